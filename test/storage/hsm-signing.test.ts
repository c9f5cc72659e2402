/**
 * A full signing with every party's key share sealed in a real SoftHSM2 token and every
 * presignature consumed in a durable SQLite ledger: load (unseal, decode, validate) → presign →
 * consume → partial signatures → combined signature checked by @noble/curves and OpenSSL.
 * (The daemon will do the same over NATS; this proves the storage pieces work with the protocol.)
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import type { KeyShare } from '../../src/protocol/key-share.js';
import { runPresign } from '../../src/protocol/local.js';
import { combineSignature, issuePartialSignature } from '../../src/protocol/sign.js';
import { PartyLedger } from '../../src/storage/party-ledger.js';
import { openPkcs11SecretStore } from '../../src/storage/pkcs11-store.js';
import { getKeyShare, putKeyShare } from '../../src/storage/secret-store.js';
import { dealKeyShares } from '../helpers/dealer.js';
import { TestDrbg } from '../helpers/drbg.js';
import { math } from '../helpers/keys.js';
import { nobleVerifies, opensslVerifies } from '../helpers/verify.js';
import { scanForPlaintext, tempDir } from './helpers.js';

const LIB = '/usr/lib/softhsm/libsofthsm2.so';

describe('signing with shares sealed in SoftHSM2 and a durable presignature ledger', () => {
  const t = tempDir('hsm-signing');
  beforeAll(() => {
    mkdirSync(join(t.dir, 'tokens'));
    const conf = join(t.dir, 'softhsm2.conf');
    writeFileSync(
      conf,
      `directories.tokendir = ${join(t.dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    );
    process.env.SOFTHSM2_CONF = conf;
    execFileSync(
      'softhsm2-util',
      ['--init-token', '--free', '--label', 'custody', '--pin', '246810', '--so-pin', '13579'],
      {
        env: process.env,
        stdio: 'ignore',
      },
    );
  });
  afterAll(() => t.cleanup());

  it('signs 2-of-3 from sealed shares, then refuses the consumed presignatures after a reopen', async () => {
    const dealt = await dealKeyShares({ n: 3, t: 2, seed: 'hsm-signing' });
    const data = join(t.dir, 'data');
    const store = openPkcs11SecretStore({
      library: LIB,
      tokenLabel: 'custody',
      pin: '246810',
      keyLabel: 'kek',
      createKey: true,
      dir: data,
    });
    for (const [i, share] of dealt.shares.entries())
      await putKeyShare(store, { partyId: i, keyId: 'treasury' }, 1, share);

    // Each signer loads its own share from the token-sealed store (validated on load).
    const loaded: KeyShare[] = [];
    for (const i of [0, 1, 2]) loaded.push((await getKeyShare(store, math, { partyId: i, keyId: 'treasury' })).share);
    expect(loaded[1]?.core.x).toBe(dealt.shares[1]?.core.x);

    const presigs = runPresign(loaded, [0, 2], [0, 3], {
      math,
      sid: 'hsm-signing',
      rng: (i, l) => new TestDrbg(`${l}-${i}`),
    });
    const ledgers = [0, 2].map((p) => PartyLedger.open(join(t.dir, `ledger-${p}.db`), p));
    const message = new TextEncoder().encode('pay 3 BTC to bc1q... (hsm)');
    const digest = createHash('sha256').update(message).digest();
    const partials = presigs.map((p, k) => issuePartialSignature(p, digest, ledgers[k] as PartyLedger));
    const sig = combineSignature(presigs[0] as never, digest, partials);
    expect(nobleVerifies(presigs[0]?.publicKey as never, digest, sig)).toBe(true);
    expect(opensslVerifies(presigs[0]?.publicKey as never, message, sig.der)).toBe(true);
    for (const l of ledgers) l.close();

    // A process restart: the ledgers reopen from disk and still refuse the used presignatures.
    const reopened = [0, 2].map((p) => PartyLedger.open(join(t.dir, `ledger-${p}.db`), p));
    for (const [k, p] of presigs.entries()) {
      try {
        issuePartialSignature(p, createHash('sha256').update('another request').digest(), reopened[k] as PartyLedger);
        expect.fail('a consumed presignature produced a second partial signature');
      } catch (e) {
        expect(e).toBeInstanceOf(MpcError);
        expect((e as MpcError).code).toBe('ERR_PRESIGNATURE_USED');
      }
    }
    for (const l of reopened) l.close();
    store.close();

    // Nothing on disk holds a share in the clear.
    const secrets = dealt.shares.map((s) => Buffer.from(s.core.x.toString(16).padStart(64, '0'), 'hex'));
    expect(scanForPlaintext(t.dir, secrets)).toEqual([]);
  });
});
