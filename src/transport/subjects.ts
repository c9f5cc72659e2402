import { bytesToHex } from '@noble/hashes/utils.js';
import { MpcError } from '../errors/index.js';

/**
 * NATS subjects (ARCHITECTURE.md "NATS", PRODUCT.md §4), with the sender as the last token so the
 * server's per-user publish permissions authenticate it ("publish only as itself"):
 *
 *   mpc.{session}.party.{to}.{from}   P2P inbox of `to` (subscribe: only `to`; publish: only `from`)
 *   mpc.{session}.broadcast.{from}    broadcast (subscribe: every party; publish: only `from`)
 *   mpc.{session}.control.{from}      start / abort / ready (same rule; `from` may be "coord")
 *
 * `{session}` is the hex of the sid (one token: no dots or wildcards by construction).
 */
export const SUBJECT_ROOT = 'mpc';
export const COORDINATOR = 'coord';

export type SubjectKind = 'p2p' | 'broadcast' | 'control';

export function sessionToken(sid: Uint8Array): string {
  if (!(sid instanceof Uint8Array) || sid.length === 0 || sid.length > 256) {
    throw new MpcError('ERR_TRANSPORT_ARGS', 'sid must be 1..256 bytes');
  }
  return bytesToHex(sid);
}

function id(x: number): string {
  if (!Number.isInteger(x) || x < 0 || x > 0xfffffffe) throw new MpcError('ERR_TRANSPORT_ARGS', 'invalid party id');
  return String(x);
}

export const p2pSubject = (session: string, to: number, from: number) =>
  `${SUBJECT_ROOT}.${session}.party.${id(to)}.${id(from)}`;
export const broadcastSubject = (session: string, from: number) => `${SUBJECT_ROOT}.${session}.broadcast.${id(from)}`;
export const controlSubject = (session: string, from: number) => `${SUBJECT_ROOT}.${session}.control.${id(from)}`;

/** What party `self` subscribes to in one session. */
export function sessionSubscriptions(session: string, self: number): Record<SubjectKind, string> {
  return {
    p2p: `${SUBJECT_ROOT}.${session}.party.${id(self)}.*`,
    broadcast: `${SUBJECT_ROOT}.${session}.broadcast.*`,
    control: `${SUBJECT_ROOT}.${session}.control.*`,
  };
}

/** Server-side permissions of party `self` across all sessions (the `*` is the session token). */
export function partyPermissions(self: number): {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
} {
  const me = id(self);
  return {
    publish: {
      allow: [
        `${SUBJECT_ROOT}.*.party.*.${me}`,
        `${SUBJECT_ROOT}.*.broadcast.${me}`,
        `${SUBJECT_ROOT}.*.control.${me}`,
      ],
    },
    subscribe: {
      allow: [`${SUBJECT_ROOT}.*.party.${me}.*`, `${SUBJECT_ROOT}.*.broadcast.*`, `${SUBJECT_ROOT}.*.control.*`],
    },
  };
}

/** The coordinator may only publish control messages as itself and read control subjects. */
export function coordinatorPermissions(): { publish: { allow: string[] }; subscribe: { allow: string[] } } {
  return {
    publish: { allow: [`${SUBJECT_ROOT}.*.control.${COORDINATOR}`] },
    subscribe: { allow: [`${SUBJECT_ROOT}.*.control.*`] },
  };
}

const PARTY_TOKEN = /^(0|[1-9][0-9]{0,9})$/;

/** Parses a received subject; undefined when it is not one of ours. The sender is channel-authenticated. */
export function parseSubject(
  subject: string,
): { kind: SubjectKind; session: string; to?: number; from: number | typeof COORDINATOR } | undefined {
  const t = subject.split('.');
  if (t[0] !== SUBJECT_ROOT || t.length < 4) return undefined;
  const session = t[1] as string;
  const num = (s: string | undefined) => (s !== undefined && PARTY_TOKEN.test(s) ? Number(s) : undefined);
  if (t[2] === 'party' && t.length === 5) {
    const to = num(t[3]);
    const from = num(t[4]);
    return to === undefined || from === undefined ? undefined : { kind: 'p2p', session, to, from };
  }
  if ((t[2] === 'broadcast' || t[2] === 'control') && t.length === 4) {
    if (t[2] === 'control' && t[3] === COORDINATOR) return { kind: 'control', session, from: COORDINATOR };
    const from = num(t[3]);
    return from === undefined ? undefined : { kind: t[2], session, from };
  }
  return undefined;
}
