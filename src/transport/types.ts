import type { MpcError } from '../errors/index.js';
import type { Bus } from './bus.js';
import type { Delivered, FrameRejected } from './frame.js';
import type { SubjectKind } from './subjects.js';

/**
 * The transport seen by the party daemon: join a session (subscriptions active before `join`
 * resolves, so the caller may then announce readiness), send signed frames, receive verified and
 * de-duplicated frames. Implementations: NatsTransport (nats.ts) and MemoryTransport (memory.ts).
 */
export type Channel = SubjectKind;

export interface TransportHandler {
  /** A verified, decrypted, first-seen frame. Exceptions thrown here are caught and reported. */
  onFrame(frame: Delivered, channel: Channel): void;
  /**
   * A refused (unattributable) or faulty (blamed: `err.attributable`) frame. Never fatal.
   * `subjectSender` is the sender token of the subject it arrived on: with NATS publish
   * permissions only that party's credential can publish there (channel-authenticated, not
   * provable to third parties); undefined when the subject did not parse.
   */
  onReject?(err: FrameRejected, channel: Channel | undefined, subjectSender?: number): void;
  /**
   * Early admission of a frame on a data or control subject of this session, with the sender named
   * by the subject (server-authenticated) and the raw size, before the frame is decoded or its
   * signature verified: a refusal here costs no parsing and no crypto. Returns why the frame is
   * refused (reported through `onReject`, never attributable), or undefined to go on.
   */
  admit?(from: number, bytes: number): MpcError | undefined;
}

export interface TransportSession {
  readonly sid: Uint8Array;
  /**
   * This party's ephemeral X25519 key for the session, signed with its identity key and bound to
   * the sid (session-keys.ts). The daemon announces it in its `ready` report.
   */
  readonly sessionKey: Uint8Array;
  /**
   * Accepts the peers' signed session keys (roster id → announcement) for the members `peers`;
   * P2P frames flow only afterwards (earlier inbound ones are held, a few per sender). Throws, and
   * the session must then be refused, when a key is missing or not signed by that peer's identity.
   */
  acceptSessionKeys(keys: ReadonlyMap<number, Uint8Array>, peers: readonly number[]): void;
  /** P2P (to = party index, encrypted) or broadcast (to = ALL, signed only). */
  send(to: number, round: string, payload: Uint8Array): Promise<void>;
  /** A signed control frame (start / ready / abort) on the session's control subject. */
  sendControl(round: string, payload: Uint8Array): Promise<void>;
  /** Unsubscribes and zeroizes the session keys. */
  leave(): Promise<void>;
}

export type TransportEvent =
  | { readonly type: 'disconnect' }
  | { readonly type: 'reconnect' }
  | { readonly type: 'permission'; readonly error: MpcError }
  | { readonly type: 'error'; readonly error: MpcError };

export interface Transport {
  readonly self: number;
  join(sid: Uint8Array, handler: TransportHandler): Promise<TransportSession>;
  /** Raw subjects on the same connection: the daemon's control plane (coordinator commands). */
  bus(): Bus;
  close(): Promise<void>;
}
