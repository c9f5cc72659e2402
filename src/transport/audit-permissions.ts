/**
 * NATS permissions for the audit log (issue 15): an emitter publishes only to its own audit
 * subject and may read only its own subject's last record (JetStream direct get by subject, to
 * learn where its chain stands); only the auditor reads the whole stream. Neither can create,
 * delete or purge streams (the stream itself also denies delete and purge).
 */
import { auditStreamName, auditSubject } from './audit-sink.js';

export interface NatsPermissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
}

/** Replies (publish acks, API answers) come back on the client's inbox. */
const INBOX = '_INBOX.>';

export function auditEmitterPermissions(deployment: string, emitter: string): NatsPermissions {
  const subject = auditSubject(deployment, emitter);
  return {
    publish: { allow: [subject, `$JS.API.DIRECT.GET.${auditStreamName(deployment)}.${subject}`] },
    subscribe: { allow: [INBOX] },
  };
}

export function auditorPermissions(deployment: string): NatsPermissions {
  const stream = auditStreamName(deployment);
  return {
    publish: {
      allow: [`$JS.API.STREAM.INFO.${stream}`, `$JS.API.STREAM.MSG.GET.${stream}`, `$JS.API.DIRECT.GET.${stream}.>`],
    },
    subscribe: { allow: [INBOX] },
  };
}

/** Merges permission sets (a party's protocol permissions plus its audit permissions). */
export function mergePermissions(...sets: readonly NatsPermissions[]): NatsPermissions {
  const uniq = (xs: string[]) => [...new Set(xs)];
  return {
    publish: { allow: uniq(sets.flatMap((s) => s.publish.allow)) },
    subscribe: { allow: uniq(sets.flatMap((s) => s.subscribe.allow)) },
  };
}

/**
 * A party that creates the stream itself (party config `audit.createStream`, single-machine setups):
 * its emitter permissions plus stream info/create for this deployment's stream only. It cannot
 * update, delete or purge it; a stream created without deny_delete/deny_purge by someone else is
 * refused by ensureAuditStream.
 */
export function auditCreatorPermissions(deployment: string, emitter: string): NatsPermissions {
  const stream = auditStreamName(deployment);
  return mergePermissions(auditEmitterPermissions(deployment, emitter), {
    publish: { allow: [`$JS.API.STREAM.INFO.${stream}`, `$JS.API.STREAM.CREATE.${stream}`] },
    subscribe: { allow: [] },
  });
}
