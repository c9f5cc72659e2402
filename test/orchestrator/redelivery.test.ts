/**
 * Re-delivery of admin-signed documents (issue 14): a policy version or operator registry that some
 * party did not take when the orchestrator relayed it (the party was down, did not answer in time)
 * is relayed again by every sweep until every party holds it or a newer version; a party that
 * refuses a sign because it holds no such version marks both documents for re-delivery. Over a
 * fake backend that records every relay; the parties' own acceptance of a relayed document is
 * tested over NATS in test/daemon/cosign-process.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import type { DocumentPushResult } from '../../src/orchestrator/backend.js';
import { POLICY_TYP, signDocument } from '../../src/policy/index.js';
import { bytes, fakeBackend, type Harness, hex0x, makeHarness, policyDoc, tx } from './harness.js';

type Relay = { kind: 'policy' | 'registry'; version: number };

/** A backend whose parties in `down` miss every relay, and which answers `answer` for party 2 otherwise. */
function relayingBackend() {
  const b = fakeBackend();
  const relays: Relay[] = [];
  const state = { down: new Set<number>([2]), answer: '' };
  const outcome = (): DocumentPushResult => {
    const parties = [0, 1, 2].map((party) =>
      state.down.has(party)
        ? { party, ok: false, code: 'ERR_DAEMON_SESSION_TIMEOUT' }
        : party === 2 && state.answer !== ''
          ? { party, ok: false, code: state.answer }
          : { party, ok: true, code: '' },
    );
    return { ok: parties.every((p) => p.ok), parties };
  };
  const versionOf = (doc: object) => {
    const payload = (doc as { payload: string }).payload;
    return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { version: number }).version;
  };
  return Object.assign(b, {
    relays,
    state,
    async pushPolicy(doc: object) {
      relays.push({ kind: 'policy', version: versionOf(doc) });
      return outcome();
    },
    async pushRegistry(doc: object) {
      relays.push({ kind: 'registry', version: versionOf(doc) });
      return outcome();
    },
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!what()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(10);
  }
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('re-delivery of policy and registry to parties that missed them', () => {
  it('relays again at every sweep until every party holds the documents, then stops', async () => {
    const b = relayingBackend();
    h = await makeHarness({ backend: b, sweepMs: 20 });
    // at init the harness publishes the registry, then the policy: both missed by party 2, and both
    // relayed again at every sweep while it stays down
    expect(b.relays[0]).toEqual({ kind: 'registry', version: 1 });
    const count = (k: string) => b.relays.filter((r) => r.kind === k).length;
    await until(() => count('registry') >= 4 && count('policy') >= 4);
    // a newer policy while party 2 is still down: the sweeps relay the newest one
    // the answer says so at once (it does not wait for party 2)
    expect(
      await h.service.putPolicy((await signDocument(bytes(policyDoc(2)), POLICY_TYP, [h.admin])) as object),
    ).toMatchObject({ version: 2, delivered: false });
    const mark = b.relays.length;
    await until(() => b.relays.length >= mark + 2);
    expect(b.relays.slice(mark).filter((r) => r.kind === 'policy')[0]).toEqual({ kind: 'policy', version: 2 });
    // party 2 is back: the next sweep reaches it, and nothing is relayed after that
    const back = b.relays.length;
    b.state.down.clear();
    await until(() => ['registry', 'policy'].every((k) => b.relays.slice(back).some((r) => r.kind === k)));
    await sleep(100);
    const settled = b.relays.length;
    await sleep(150);
    expect(b.relays.length).toBe(settled);
  });

  it('a party that already holds a newer version counts as delivered; any other refusal is relayed again', async () => {
    const b = relayingBackend();
    b.state.down.clear();
    b.state.answer = 'ERR_POLICY_VERSION_OLD';
    h = await makeHarness({ backend: b, sweepMs: 20 });
    await sleep(150);
    expect(b.relays).toHaveLength(2);
    expect(
      await h.service.putPolicy((await signDocument(bytes(policyDoc(2)), POLICY_TYP, [h.admin])) as object),
    ).toMatchObject({ version: 2, delivered: true });
    await sleep(100);
    expect(b.relays).toHaveLength(3);
    b.state.answer = 'ERR_STORE_UNAVAILABLE';
    expect(
      await h.service.putPolicy((await signDocument(bytes(policyDoc(3)), POLICY_TYP, [h.admin])) as object),
    ).toMatchObject({ version: 3, delivered: false });
    await until(() => b.relays.length >= 5);
    expect(b.relays.slice(3, 5)).toEqual([
      { kind: 'policy', version: 3 },
      { kind: 'policy', version: 3 },
    ]);
  });

  it('a sign refused because a party holds no such version marks both documents for re-delivery', async () => {
    const b = relayingBackend();
    b.state.down.clear();
    h = await makeHarness({ backend: b, sweepMs: 20 });
    await h.readyKey('k1');
    await sleep(100);
    expect(b.relays).toHaveLength(2);
    const sign = b.signPayload.bind(b);
    let refuse = true;
    b.signPayload = async (o) => {
      if (refuse) {
        refuse = false;
        throw new MpcError(
          'ERR_DAEMON_SESSION_FAILED',
          'party 2: ERR_POLICY_VERSION_UNKNOWN: this party holds no policy yet',
        );
      }
      return sign(o);
    };
    const payload = tx(7);
    const signedRequest = await h.signedRequest({ payload, idempotencyKey: 'redeliver' });
    const r = await h.call('ian', 'POST', '/v1/sign-requests', {
      keyId: 'k1',
      kind: 'eth.transaction',
      payload: hex0x(payload),
      signedRequest,
      idempotencyKey: 'redeliver',
    });
    expect(r.status).toBe(201);
    await until(() => b.relays.length >= 4);
    expect(b.relays.slice(2, 4).map((x) => x.kind)).toEqual(['registry', 'policy']);
  });
});
