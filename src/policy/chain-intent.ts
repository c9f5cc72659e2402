/**
 * From a decoded chain payload (src/chains, the same layer) to the intent the policy evaluates.
 * Every holder runs this on the bytes it decoded itself, so the orchestrator and each party see the
 * same operation, destinations and amounts.
 *
 * - eth.transaction: ERC-20 transfer/approve calldata becomes a token transfer to the recipient
 *   (approve: to the spender, which may then move that much); other calldata is a contract call;
 *   no calldata is a plain transfer. Native value always counts, as an ETH transfer to `to` (also
 *   when it is 0, so a destination rule can name the contract called). A contract creation has the
 *   destination `create`, which no address set contains.
 * - btc.psbt: every output that is not change (change = derived under this key, checked by the
 *   decoder) is a BTC transfer; a script without an address is named `script:<hex>`. The paths are
 *   the inputs' derivation paths. The fee is not a transfer (it is bounded by the decoder's checks).
 * - eth.message, eth.typed_data: no transfers; typed data names the domain's chain id.
 * - raw.digest: no chain, no transfers — nothing can be checked, which is why policies block it.
 */
import type { DecodedPayload, Fields, FieldValue } from '../chains/types.js';
import { MpcError } from '../errors/index.js';
import type { DecodedIntent } from './cosigner.js';
import type { Transfer } from './intent.js';

const bad = (what: string) => new MpcError('ERR_POLICY_INTENT_INVALID', `decoded payload ${what}`);

const str = (f: Fields, k: string): string => {
  const v = f[k];
  if (typeof v !== 'string') throw bad(`has no ${k}`);
  return v;
};
const amount = (v: FieldValue | undefined, what: string): bigint => {
  if (typeof v !== 'string' || !/^(0|[1-9][0-9]*)$/.test(v)) throw bad(`has no integer ${what}`);
  return BigInt(v);
};
const chainIdOf = (v: FieldValue | undefined): number | undefined => {
  if (v === null || v === undefined) return undefined;
  const n = amount(v, 'chain id');
  if (n < 1n || n > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('has a chain id outside the policy range');
  return Number(n);
};

/**
 * @param path the derivation path the request names (Ethereum kinds and raw digests; ignored for PSBTs)
 * @throws MpcError ERR_POLICY_INTENT_INVALID when the decoded fields lack what the policy needs
 */
export function intentFromPayload(p: DecodedPayload, path: readonly number[] | undefined): DecodedIntent {
  const f = p.fields;
  const own = [path ?? []];
  switch (p.kind) {
    case 'eth.transaction': {
      const to = f.to === null ? 'create' : str(f, 'to');
      const value = amount(f.value, 'value');
      const native: Transfer = { asset: 'ETH', destination: to, amount: value };
      const erc20 = f.erc20;
      const base = { kind: p.kind, chain: 'eth', paths: own, chainId: chainIdOf(f.chainId) } as const;
      if (erc20 !== null && erc20 !== undefined && typeof erc20 === 'object' && !Array.isArray(erc20)) {
        const e = erc20 as Fields;
        const approve = e.method === 'approve';
        const token: Transfer = {
          asset: `erc20:${str(e, 'token').toLowerCase()}`,
          destination: str(e, approve ? 'spender' : 'recipient'),
          amount: amount(e.amount, 'token amount'),
        };
        return {
          ...base,
          operation: approve ? 'token_approve' : 'token_transfer',
          transfers: value > 0n ? [token, native] : [token],
        };
      }
      return { ...base, operation: f.data === '0x' ? 'transfer' : 'contract_call', transfers: [native] };
    }
    case 'btc.psbt': {
      const outputs = f.outputs;
      const inputs = f.inputs;
      if (!Array.isArray(outputs) || !Array.isArray(inputs)) throw bad('has no inputs or outputs');
      const transfers = (outputs as Fields[])
        .filter((o) => o.change !== true)
        .map((o) => ({
          asset: 'BTC',
          destination: typeof o.address === 'string' ? o.address : `script:${str(o, 'script')}`,
          amount: amount(o.value, 'output value'),
        }));
      const paths = (inputs as Fields[]).map((i) =>
        str(i, 'path')
          .split('/')
          .filter((s) => s !== '')
          .map(Number),
      );
      const network = str(f, 'network');
      if (network !== 'mainnet' && network !== 'testnet' && network !== 'regtest')
        throw bad('names an unknown network');
      return { kind: p.kind, operation: 'transfer', chain: 'btc', network, paths, transfers };
    }
    case 'eth.message':
      return { kind: p.kind, operation: 'message', chain: 'eth', paths: own, transfers: [] };
    case 'eth.typed_data': {
      const domain = f.domain as Fields | undefined;
      const chainId = chainIdOf(domain?.chainId);
      return {
        kind: p.kind,
        operation: 'typed_data',
        chain: 'eth',
        paths: own,
        transfers: [],
        ...(chainId === undefined ? {} : { chainId }),
      };
    }
    case 'raw.digest':
      return { kind: p.kind, operation: 'raw_digest', paths: own, transfers: [] };
    default:
      throw bad('is of an unknown kind');
  }
}
