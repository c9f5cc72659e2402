import { address as btcAddress, Psbt, payments, script, Transaction } from 'bitcoinjs-lib';
import { MpcError } from '../errors/index.js';
import { encodePoint } from '../primitives/curve.js';
import { secp256k1Backend } from '../primitives/secp256k1-backend.js';
import { HARDENED_OFFSET, MAX_PATH_LENGTH } from '../protocol/hd.js';
import { btcNetwork } from './btc-network.js';
import { assertNetwork, childPublicKey, rootFingerprint } from './keys.js';
import {
  assertSignatureCount,
  assertSize,
  type BtcNetwork,
  type ChainContext,
  type ChainKey,
  chainError,
  type DecodedPayload,
  type DigestSignature,
  type Fields,
  type PayloadCodec,
  type SignedArtifact,
} from './types.js';

/**
 * `btc.psbt`: a BIP174 PSBT (parsed and finalized by bitcoinjs-lib v7 and its bip174) spending only
 * native segwit v0 P2WPKH outputs of this key, SIGHASH_ALL only. For every input:
 *  - witnessUtxo is required (the BIP143 digest commits to the spent amount);
 *  - exactly one BIP32 derivation record, whose fingerprint is the threshold key's root fingerprint,
 *    whose path is non-hardened, whose claimed pubkey equals the key the parties derive at that path
 *    (src/protocol/hd.ts), and whose witnessUtxo script is that key's P2WPKH script;
 *  - the digest is BIP143's (`hashForWitnessV0` with the P2PKH script code), bound to that path:
 *    the presignature that signs it must have been made for the same path.
 * Outputs decode to address + amount; an output with a derivation record under this key is change
 * only if the record checks out the same way (a false change claim is refused, not ignored).
 * The bytes must be exactly bitcoinjs-lib's serialisation of what they decode to (no trailing data).
 */

const KIND = 'btc.psbt' as const;
export const BTC_PSBT_MAX_BYTES = 256 * 1024;
export const BTC_PSBT_MAX_INPUTS = 32;
export const BTC_PSBT_MAX_OUTPUTS = 256;
const MAX_SATOSHI = 21_000_000n * 100_000_000n;

interface InputInfo {
  readonly path: number[];
  readonly pubkey: Uint8Array;
  readonly value: bigint;
  readonly digest: Uint8Array;
  readonly fields: Fields;
}

interface Parsed {
  readonly psbt: Psbt;
  readonly inputs: InputInfo[];
  readonly fields: Fields;
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

function mismatch(why: string, details: Record<string, string | number>): never {
  throw chainError('ERR_CHAIN_DERIVATION_MISMATCH', why, details);
}

/** "m/0/5" → [0, 5]; hardened or malformed steps cannot belong to a key derived without its secret. */
function parsePath(text: string, where: Record<string, string | number>): number[] {
  const steps = text.split('/');
  if (steps[0] !== 'm' || steps.length - 1 > MAX_PATH_LENGTH) mismatch('derivation path is malformed', where);
  return steps.slice(1).map((s) => {
    if (!/^(0|[1-9][0-9]{0,9})$/.test(s) || Number(s) >= HARDENED_OFFSET) {
      mismatch('derivation path is hardened or malformed: not derivable from this key', where);
    }
    return Number(s);
  });
}

function assertAmount(v: bigint, where: Record<string, string | number>): void {
  if (typeof v !== 'bigint' || v < 0n || v > MAX_SATOSHI) {
    throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', 'amount out of range', where);
  }
}

/** The child key a derivation record claims, checked: fingerprint, path, pubkey and script. */
function checkRecord(
  key: ChainKey,
  fingerprint: number,
  rec: { masterFingerprint: Uint8Array; pubkey: Uint8Array; path: string },
  scriptPubKey: Uint8Array,
  where: Record<string, string | number>,
): number[] {
  if (rec.masterFingerprint.length !== 4 || Buffer.from(rec.masterFingerprint).readUInt32BE(0) !== fingerprint) {
    mismatch('derivation record names another master key', where);
  }
  const path = parsePath(rec.path, where);
  let derived: Uint8Array;
  try {
    derived = encodePoint(childPublicKey(key, path));
  } catch (e) {
    throw chainError('ERR_CHAIN_DERIVATION_MISMATCH', 'derivation path is not derivable from this key', where, e);
  }
  if (!same(derived, rec.pubkey)) mismatch('the claimed public key is not this key at the claimed path', where);
  const expected = payments.p2wpkh({ pubkey: derived }).output as Uint8Array;
  if (!same(expected, scriptPubKey)) mismatch('the script is not this key’s P2WPKH script at the claimed path', where);
  return path;
}

function parse(bytes: Uint8Array, ctx: ChainContext): Parsed {
  assertSize(KIND, bytes, BTC_PSBT_MAX_BYTES);
  const networkName: BtcNetwork = ctx.network ?? 'mainnet';
  assertNetwork(networkName);
  const network = btcNetwork(networkName);
  const key = ctx.key;
  if (key === undefined) throw chainError('ERR_CHAIN_DERIVATION_MISMATCH', 'no key to check derivation paths against');
  let psbt: Psbt;
  try {
    psbt = Psbt.fromBuffer(bytes, { network });
  } catch (e) {
    throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', 'PSBT does not decode', { kind: KIND }, e);
  }
  if (psbt.inputCount < 1 || psbt.inputCount > BTC_PSBT_MAX_INPUTS) {
    throw chainError('ERR_CHAIN_TOO_MANY_ITEMS', `PSBT must have 1..${BTC_PSBT_MAX_INPUTS} inputs`, {
      inputs: psbt.inputCount,
    });
  }
  const txOutputs = psbt.txOutputs;
  if (txOutputs.length < 1 || txOutputs.length > BTC_PSBT_MAX_OUTPUTS) {
    throw chainError('ERR_CHAIN_TOO_MANY_ITEMS', `PSBT must have 1..${BTC_PSBT_MAX_OUTPUTS} outputs`, {
      outputs: txOutputs.length,
    });
  }
  let canonical: Uint8Array;
  try {
    canonical = psbt.toBuffer();
  } catch (e) {
    throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', 'PSBT does not re-serialise', { kind: KIND }, e);
  }
  if (!same(canonical, bytes))
    throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', 'PSBT bytes are not canonical (trailing data)');

  const unsigned = Transaction.fromBuffer(psbt.data.globalMap.unsignedTx.toBuffer());
  const fingerprint = rootFingerprint(key);
  const inputs: InputInfo[] = psbt.data.inputs.map((d, i) => {
    const where = { input: i };
    if (d.partialSig !== undefined || d.finalScriptSig !== undefined || d.finalScriptWitness !== undefined) {
      throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', 'input is already signed or finalized', where);
    }
    if (d.witnessUtxo === undefined)
      throw chainError('ERR_CHAIN_WITNESS_UTXO_MISSING', 'input has no witnessUtxo', where);
    const spk = d.witnessUtxo.script;
    let isP2wpkh = false;
    try {
      isP2wpkh = payments.p2wpkh({ output: spk }).hash !== undefined;
    } catch {
      isP2wpkh = false;
    }
    if (!isP2wpkh || d.redeemScript !== undefined || d.witnessScript !== undefined || d.tapInternalKey !== undefined) {
      throw chainError('ERR_CHAIN_UNSUPPORTED', 'only P2WPKH inputs can be signed', where);
    }
    if (d.sighashType !== undefined && d.sighashType !== Transaction.SIGHASH_ALL) {
      throw chainError('ERR_CHAIN_UNSUPPORTED', 'only SIGHASH_ALL is allowed', { ...where, sighash: d.sighashType });
    }
    const recs = d.bip32Derivation ?? [];
    if (recs.length !== 1)
      mismatch('input needs exactly one BIP32 derivation record', { ...where, records: recs.length });
    const rec = recs[0] as (typeof recs)[number];
    const path = checkRecord(key, fingerprint, rec, spk, where);
    const value = d.witnessUtxo.value;
    assertAmount(value, where);
    // BIP143: the script code of a P2WPKH input is the P2PKH script of its key hash
    const scriptCode = payments.p2pkh({ hash: payments.p2wpkh({ output: spk }).hash as Uint8Array })
      .output as Uint8Array;
    const digest = unsigned.hashForWitnessV0(i, scriptCode, value, Transaction.SIGHASH_ALL);
    const txIn = psbt.txInputs[i] as (typeof psbt.txInputs)[number];
    return {
      path,
      pubkey: rec.pubkey,
      value,
      digest,
      fields: {
        txid: hex(Uint8Array.from(txIn.hash).reverse()),
        vout: txIn.index,
        value: value.toString(),
        address: btcAddress.fromOutputScript(spk, network),
        path: path.join('/'),
      },
    };
  });
  let totalOut = 0n;
  const outputs: Fields[] = txOutputs.map((o, j) => {
    const where = { output: j };
    assertAmount(o.value, where);
    totalOut += o.value;
    let addr: string | null = null;
    try {
      addr = btcAddress.fromOutputScript(o.script, network);
    } catch {
      addr = null; // OP_RETURN or a non-standard script: shown as script only
    }
    const ours = (psbt.data.outputs[j]?.bip32Derivation ?? []).filter(
      (r) => r.masterFingerprint.length === 4 && Buffer.from(r.masterFingerprint).readUInt32BE(0) === fingerprint,
    );
    if (ours.length > 1) mismatch('output has several derivation records under this key', where);
    const changePath = ours[0] === undefined ? null : checkRecord(key, fingerprint, ours[0], o.script, where);
    return {
      address: addr,
      script: hex(o.script),
      value: o.value.toString(),
      change: changePath !== null,
      path: changePath === null ? null : changePath.join('/'),
    };
  });
  const totalIn = inputs.reduce((s, x) => s + x.value, 0n);
  if (totalIn < totalOut) throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', 'outputs spend more than the inputs');
  const fields: Fields = {
    network: networkName,
    version: unsigned.version,
    locktime: unsigned.locktime,
    inputs: inputs.map((x) => x.fields),
    outputs,
    totalIn: totalIn.toString(),
    totalOut: totalOut.toString(),
    fee: (totalIn - totalOut).toString(),
  };
  return { psbt, inputs, fields };
}

function decode(bytes: Uint8Array, ctx: ChainContext): DecodedPayload {
  const p = parse(bytes, ctx);
  return { kind: KIND, fields: p.fields, digests: p.inputs.map((x) => ({ digest: x.digest, path: x.path })) };
}

function assemble(bytes: Uint8Array, signed: readonly DigestSignature[], ctx: ChainContext): SignedArtifact {
  const { psbt, inputs } = parse(bytes, ctx);
  assertSignatureCount(KIND, signed.length, inputs.length);
  inputs.forEach((x, i) => {
    const s = signed[i] as DigestSignature;
    if (!same(encodePoint(s.publicKey), x.pubkey)) {
      throw chainError('ERR_CHAIN_SIGNATURE_INVALID', 'signature was made under another key than the input’s', {
        input: i,
      });
    }
    const compact = s.signature.compact;
    if (!secp256k1Backend().verify(compact, x.digest, x.pubkey)) {
      throw chainError('ERR_CHAIN_SIGNATURE_INVALID', 'signature does not verify for the input', { input: i });
    }
    psbt.updateInput(i, {
      partialSig: [{ pubkey: x.pubkey, signature: script.signature.encode(compact, Transaction.SIGHASH_ALL) }],
    });
  });
  let txHex: string;
  let txid: string;
  try {
    psbt.finalizeAllInputs();
    // the fee is the policy's to judge (decoded above), not bitcoinjs-lib's default fee-rate guard
    const tx = psbt.extractTransaction(true);
    txHex = tx.toHex();
    txid = tx.getId();
  } catch (e) {
    if (e instanceof MpcError) throw e;
    throw chainError('ERR_CHAIN_SIGNATURE_INVALID', 'PSBT does not finalize', { kind: KIND }, e);
  }
  return { kind: KIND, hex: txHex, fields: { txid } };
}

export const btcPsbt: PayloadCodec = { kind: KIND, maxBytes: BTC_PSBT_MAX_BYTES, decode, assemble };
