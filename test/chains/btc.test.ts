import { Psbt, payments, Transaction } from 'bitcoinjs-lib';
import * as ecc from 'tiny-secp256k1';
import { describe, expect, it } from 'vitest';
import { btcNetwork } from '../../src/chains/btc-network.js';
import { assemblePayload, type BtcNetwork, decodePayload, xpub } from '../../src/chains/index.js';
import { errorCode } from '../helpers/failure.js';
import { bip32, hex, signAt, testKey } from './helpers.js';

const key = testKey(11);
const other = testKey(12);
const A = [0, 5];
const B = [1, 2 ** 31 - 1];
const CHANGE = [1, 0];
const EXTERNAL = 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq';

interface Opts {
  network?: BtcNetwork;
  mutate?: (p: Psbt, node: ReturnType<typeof bip32.fromBase58>) => void;
  inputs?: ReadonlyArray<{ path: number[]; value: bigint; key?: typeof key }>;
  changeClaim?: { path: number[]; at?: number[] };
}

/** Builds an unsigned PSBT spending P2WPKH outputs of `key` at the given paths (independent BIP32 lib). */
function buildPsbt(o: Opts = {}): Uint8Array {
  const networkName = o.network ?? 'mainnet';
  const network = btcNetwork(networkName);
  const psbt = new Psbt({ network });
  const inputs = o.inputs ?? [
    { path: A, value: 150_000n },
    { path: B, value: 70_000n },
  ];
  inputs.forEach((x, i) => {
    const k = x.key ?? key;
    const node = bip32.fromBase58(xpub(k));
    const child = x.path.reduce((n, j) => n.derive(j), node);
    psbt.addInput({
      hash: hex(new Uint8Array(32).fill(i + 1)),
      index: i,
      witnessUtxo: {
        script: payments.p2wpkh({ pubkey: child.publicKey, network }).output as Uint8Array,
        value: x.value,
      },
      bip32Derivation: [
        { masterFingerprint: node.fingerprint, pubkey: child.publicKey, path: `m/${x.path.join('/')}` },
      ],
    });
  });
  const node = bip32.fromBase58(xpub(key));
  psbt.addOutput({
    address:
      networkName === 'mainnet'
        ? EXTERNAL
        : (payments.p2wpkh({ hash: new Uint8Array(20).fill(7), network }).address as string),
    value: 200_000n,
  });
  const change = o.changeClaim ?? { path: CHANGE };
  const at = (change.at ?? change.path).reduce((n, j) => n.derive(j), node);
  const claimed = change.path.reduce((n, j) => n.derive(j), node);
  psbt.addOutput({ script: payments.p2wpkh({ pubkey: at.publicKey, network }).output as Uint8Array, value: 19_000n });
  psbt.updateOutput(1, {
    bip32Derivation: [
      { masterFingerprint: node.fingerprint, pubkey: claimed.publicKey, path: `m/${change.path.join('/')}` },
    ],
  });
  o.mutate?.(psbt, node);
  return psbt.toBuffer();
}

const validator = (pubkey: Uint8Array, msghash: Uint8Array, signature: Uint8Array) =>
  ecc.verify(msghash, pubkey, signature);

describe('btc.psbt', () => {
  for (const network of ['mainnet', 'testnet', 'regtest'] as const) {
    it(`${network}: 2 inputs from two paths are decoded, signed, finalized; signatures validate and witness pubkeys are the xpub's keys`, () => {
      const bytes = buildPsbt({ network });
      const d = decodePayload('btc.psbt', bytes, { key, network });
      expect(d.digests.map((x) => x.path)).toEqual([A, B]);
      expect(d.fields).toMatchObject({ network, fee: '1000', totalIn: '220000', totalOut: '219000' });
      const outs = d.fields.outputs as Array<Record<string, unknown>>;
      expect(outs[0]).toMatchObject({ value: '200000', change: false, path: null });
      expect(outs[1]).toMatchObject({ value: '19000', change: true, path: '1/0' });
      const prefix = { mainnet: 'bc1q', testnet: 'tb1q', regtest: 'bcrt1q' }[network];
      expect(String(outs[1]?.address).startsWith(prefix)).toBe(true);
      const signed = d.digests.map((x) => signAt(key, x.path as number[], x.digest));
      const out = assemblePayload('btc.psbt', bytes, signed, { key, network });

      // independent check 1: the signatures in the PSBT validate (tiny-secp256k1) before finalizing
      const check = Psbt.fromBuffer(bytes, { network: btcNetwork(network) });
      d.digests.forEach((_, i) => {
        const sig = signed[i]?.signature.compact as Uint8Array;
        const pubkey = signed[i]?.publicKey.toBytes(true) as Uint8Array;
        check.updateInput(i, { partialSig: [{ pubkey, signature: encodeSig(sig) }] });
      });
      expect(check.validateSignaturesOfAllInputs(validator)).toBe(true);

      // independent check 2: the extracted transaction's witnesses carry the xpub-derived keys
      const tx = Transaction.fromHex(out.hex);
      const node = bip32.fromBase58(
        xpub(key, network),
        network === 'mainnet' ? undefined : (btcNetwork(network) as never),
      );
      [A, B].forEach((path, i) => {
        const witness = tx.ins[i]?.witness as Uint8Array[];
        expect(witness).toHaveLength(2);
        expect(hex(witness[1] as Uint8Array)).toBe(hex(path.reduce((n, j) => n.derive(j), node).publicKey));
        // and each witness signature verifies (tiny-secp256k1) over BIP143's digest for that input
        const sigDer = (witness[0] as Uint8Array).subarray(0, -1);
        expect((witness[0] as Uint8Array).at(-1)).toBe(Transaction.SIGHASH_ALL);
        expect(ecc.verify(d.digests[i]?.digest as Uint8Array, witness[1] as Uint8Array, derToCompact(sigDer))).toBe(
          true,
        );
      });
      expect(tx.outs.map((o) => o.value)).toEqual([200_000n, 19_000n]);
      expect(out.fields.txid).toBe(tx.getId());
    });
  }

  it('refuses a PSBT without witnessUtxo', () => {
    const bytes = buildPsbt({
      mutate: (p) => {
        // drop the witnessUtxo of input 1 (bip174 has no delete: rebuild the map without it)
        delete (p.data.inputs[1] as { witnessUtxo?: unknown }).witnessUtxo;
      },
    });
    expect(errorCode(() => decodePayload('btc.psbt', bytes, { key }))).toBe('ERR_CHAIN_WITNESS_UTXO_MISSING');
  });

  it('refuses a non-P2WPKH input (P2TR-looking and P2PKH scripts)', () => {
    for (const script of [
      payments.p2pkh({ hash: new Uint8Array(20).fill(3) }).output as Uint8Array,
      Uint8Array.from([0x51, 0x20, ...new Uint8Array(32).fill(9)]),
    ]) {
      const bytes = buildPsbt({
        mutate: (p) => {
          (p.data.inputs[0] as { witnessUtxo: { script: Uint8Array } }).witnessUtxo.script = script;
        },
      });
      expect(errorCode(() => decodePayload('btc.psbt', bytes, { key }))).toBe('ERR_CHAIN_UNSUPPORTED');
    }
  });

  it('refuses SIGHASH types other than ALL', () => {
    const bytes = buildPsbt({ mutate: (p) => p.updateInput(0, { sighashType: Transaction.SIGHASH_NONE }) });
    expect(errorCode(() => decodePayload('btc.psbt', bytes, { key }))).toBe('ERR_CHAIN_UNSUPPORTED');
  });

  it('refuses an input whose derivation record belongs to another key (fingerprint)', () => {
    const bytes = buildPsbt({ inputs: [{ path: A, value: 1000n, key: other }] });
    expect(errorCode(() => decodePayload('btc.psbt', bytes, { key }))).toBe('ERR_CHAIN_DERIVATION_MISMATCH');
    // only the fingerprint wrong (path, pubkey and script are this key's)
    const onlyFingerprint = buildPsbt({
      mutate: (p) => {
        const rec = p.data.inputs[0]?.bip32Derivation?.[0] as { masterFingerprint: Uint8Array };
        rec.masterFingerprint = Uint8Array.from(rec.masterFingerprint).map((b, i) => (i === 0 ? b ^ 1 : b));
      },
    });
    expect(errorCode(() => decodePayload('btc.psbt', onlyFingerprint, { key }))).toBe('ERR_CHAIN_DERIVATION_MISMATCH');
  });

  it('refuses a record whose claimed pubkey is not the derived key (path and script are right)', () => {
    const bytes = buildPsbt({
      mutate: (p, node) => {
        const rec = p.data.inputs[0]?.bip32Derivation?.[0] as { pubkey: Uint8Array };
        rec.pubkey = node.derive(0).derive(6).publicKey;
      },
    });
    expect(errorCode(() => decodePayload('btc.psbt', bytes, { key }))).toBe('ERR_CHAIN_DERIVATION_MISMATCH');
  });

  it('refuses an input claimed under a path whose key does not match (pubkey at another path)', () => {
    const bytes = buildPsbt({
      mutate: (p) => {
        const rec = p.data.inputs[0]?.bip32Derivation?.[0] as { path: string };
        rec.path = 'm/0/6'; // the pubkey and script stay those of m/0/5
      },
    });
    expect(errorCode(() => decodePayload('btc.psbt', bytes, { key }))).toBe('ERR_CHAIN_DERIVATION_MISMATCH');
  });

  it('refuses a record whose pubkey matches the path but whose script pays another key', () => {
    const bytes = buildPsbt({
      mutate: (p) => {
        (p.data.inputs[0] as { witnessUtxo: { script: Uint8Array } }).witnessUtxo.script = payments.p2wpkh({
          hash: new Uint8Array(20).fill(4),
        }).output as Uint8Array;
      },
    });
    expect(errorCode(() => decodePayload('btc.psbt', bytes, { key }))).toBe('ERR_CHAIN_DERIVATION_MISMATCH');
  });

  it('refuses hardened paths (not derivable from the key) and a false change claim', () => {
    const hardened = buildPsbt({
      mutate: (p) => {
        const rec = p.data.inputs[0]?.bip32Derivation?.[0] as { path: string };
        rec.path = "m/84'/0'/0'/0/5";
      },
    });
    expect(errorCode(() => decodePayload('btc.psbt', hardened, { key }))).toBe('ERR_CHAIN_DERIVATION_MISMATCH');
    const falseChange = buildPsbt({ changeClaim: { path: CHANGE, at: [1, 1] } });
    expect(errorCode(() => decodePayload('btc.psbt', falseChange, { key }))).toBe('ERR_CHAIN_DERIVATION_MISMATCH');
  });

  it('refuses trailing bytes, a missing key, too many inputs and outputs spending more than the inputs', () => {
    const good = buildPsbt();
    expect(errorCode(() => decodePayload('btc.psbt', Uint8Array.from([...good, 0]), { key }))).toBe(
      'ERR_CHAIN_PAYLOAD_MALFORMED',
    );
    expect(errorCode(() => decodePayload('btc.psbt', good.subarray(0, good.length - 3), { key }))).toBe(
      'ERR_CHAIN_PAYLOAD_MALFORMED',
    );
    expect(errorCode(() => decodePayload('btc.psbt', good))).toBe('ERR_CHAIN_DERIVATION_MISMATCH');
    const many = buildPsbt({ inputs: Array.from({ length: 33 }, (_, i) => ({ path: [i], value: 10_000n })) });
    expect(errorCode(() => decodePayload('btc.psbt', many, { key }))).toBe('ERR_CHAIN_TOO_MANY_ITEMS');
    const overspend = buildPsbt({ inputs: [{ path: A, value: 1000n }] });
    expect(errorCode(() => decodePayload('btc.psbt', overspend, { key }))).toBe('ERR_CHAIN_PAYLOAD_MALFORMED');
  });

  it('refuses at assembly a signature under another key than the input’s', () => {
    const bytes = buildPsbt();
    const d = decodePayload('btc.psbt', bytes, { key });
    const signed = d.digests.map((x) => signAt(key, x.path as number[], x.digest));
    const swapped = [signed[1], signed[0]] as typeof signed;
    expect(errorCode(() => assemblePayload('btc.psbt', bytes, swapped, { key }))).toBe('ERR_CHAIN_SIGNATURE_INVALID');
    const forged = [
      { ...(signed[0] as (typeof signed)[0]), signature: signed[1]?.signature },
      signed[1],
    ] as typeof signed;
    expect(errorCode(() => assemblePayload('btc.psbt', bytes, forged, { key }))).toBe('ERR_CHAIN_SIGNATURE_INVALID');
  });
});

/** DER signature + SIGHASH_ALL byte, as a PSBT partialSig carries it (via bitcoinjs' script.signature). */
function encodeSig(compact: Uint8Array): Uint8Array {
  return Uint8Array.from([...compactToDer(compact), Transaction.SIGHASH_ALL]);
}

function compactToDer(c: Uint8Array): Uint8Array {
  const int = (b: Uint8Array) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0 && (b[i + 1] as number) < 0x80) i++;
    const v = b.subarray(i);
    return (v[0] as number) >= 0x80 ? Uint8Array.from([0, ...v]) : v;
  };
  const r = int(c.subarray(0, 32));
  const s = int(c.subarray(32));
  return Uint8Array.from([0x30, 4 + r.length + s.length, 2, r.length, ...r, 2, s.length, ...s]);
}

function derToCompact(der: Uint8Array): Uint8Array {
  const rLen = der[3] as number;
  const r = der.subarray(4, 4 + rLen);
  const s = der.subarray(6 + rLen, 6 + rLen + (der[5 + rLen] as number));
  const pad = (x: Uint8Array) => {
    const t = x[0] === 0 ? x.subarray(1) : x;
    return Uint8Array.from([...new Uint8Array(32 - t.length), ...t]);
  };
  return Uint8Array.from([...pad(r), ...pad(s)]);
}

describe('btc.psbt decoded fields', () => {
  it('shows each input by its txid in display order', () => {
    const network = btcNetwork('mainnet');
    const node = bip32.fromBase58(xpub(key));
    const child = node.derive(0).derive(1);
    const txid = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
    const psbt = new Psbt({ network });
    psbt.addInput({
      hash: txid,
      index: 3,
      witnessUtxo: {
        script: payments.p2wpkh({ pubkey: child.publicKey, network }).output as Uint8Array,
        value: 5_000n,
      },
      bip32Derivation: [{ masterFingerprint: node.fingerprint, pubkey: child.publicKey, path: 'm/0/1' }],
    });
    psbt.addOutput({ address: EXTERNAL, value: 4_000n });
    const fields = decodePayload('btc.psbt', psbt.toBuffer(), { key }).fields;
    expect(fields.inputs).toEqual([expect.objectContaining({ txid, vout: 3, path: '0/1' })]);
    expect(fields.fee).toBe('1000');
  });
});
