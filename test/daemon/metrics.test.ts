import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DaemonMetrics, SESSION_BUCKETS, SIGN_BUCKETS } from '../../src/daemon/metrics.js';

/** Parses Prometheus text into `name{k="v",…}` (labels sorted) → value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`unparsable exposition line: ${line}`);
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)]
      .map(([, k, v]) => `${k}="${v}"`)
      .sort();
    out.set(labels.length === 0 ? m[1]! : `${m[1]}{${labels.join(',')}}`, Number(m[3]));
  }
  return out;
}

const NAMES = [
  'mpc_sessions_total',
  'mpc_session_duration_seconds',
  'mpc_sessions_active',
  'mpc_frames_refused_total',
  'mpc_blame_total',
  'mpc_partial_signatures_total',
  'mpc_sign_duration_seconds',
  'mpc_presignatures_available',
  'mpc_nats_connected',
  'mpc_nats_events_total',
];

describe('daemon metrics (prom-client, private registry)', () => {
  it('renders every metric with HELP and TYPE, and the Prometheus content type', async () => {
    const m = new DaemonMetrics({ defaultMetrics: false });
    const text = await m.render();
    for (const name of NAMES) {
      expect(text).toContain(`# HELP ${name} `);
      expect(text).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, 'm'));
    }
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(parse(text).get('mpc_nats_connected')).toBe(0);
  });

  it('records sessions, durations, refusals, blame, partials, presignatures and NATS state', async () => {
    const m = new DaemonMetrics({ defaultMetrics: false });
    m.sessionStarted('sign');
    m.sessionStarted('sign');
    m.sessionStarted('keygen');
    m.sessionEnded('sign', 'ok', 0.004);
    m.sessionEnded('keygen', 'abort', 42);
    m.frameRefused('ERR_TRANSPORT_REPLAY');
    m.frameRefused('ERR_TRANSPORT_REPLAY');
    m.frameRefused('ERR_TRANSPORT_SIGNATURE');
    m.blamed('keygen', 2);
    m.partialIssued(0.0004);
    m.partialIssued(0.002);
    m.setPresignaturesAvailable('w1', 17);
    m.setPresignaturesAvailable('w1', 16);
    m.setPresignaturesAvailable('w2', 0);
    m.natsEvent('disconnect');
    m.natsEvent('reconnect');
    m.natsEvent('reconnect');
    m.setNatsConnected(true);
    const v = parse(await m.render());

    expect(v.get('mpc_sessions_total{outcome="ok",protocol="sign"}')).toBe(1);
    expect(v.get('mpc_sessions_total{outcome="abort",protocol="keygen"}')).toBe(1);
    expect(v.get('mpc_sessions_active{protocol="sign"}')).toBe(1);
    expect(v.get('mpc_sessions_active{protocol="keygen"}')).toBe(0);
    expect(v.get('mpc_session_duration_seconds_count{protocol="sign"}')).toBe(1);
    expect(v.get('mpc_session_duration_seconds_sum{protocol="sign"}')).toBeCloseTo(0.004);
    expect(v.get('mpc_session_duration_seconds_bucket{le="0.0025",protocol="sign"}')).toBe(0);
    expect(v.get('mpc_session_duration_seconds_bucket{le="0.005",protocol="sign"}')).toBe(1);
    expect(v.get('mpc_session_duration_seconds_bucket{le="30",protocol="keygen"}')).toBe(0);
    expect(v.get('mpc_session_duration_seconds_bucket{le="60",protocol="keygen"}')).toBe(1);
    expect(v.get('mpc_frames_refused_total{code="ERR_TRANSPORT_REPLAY"}')).toBe(2);
    expect(v.get('mpc_frames_refused_total{code="ERR_TRANSPORT_SIGNATURE"}')).toBe(1);
    expect(v.get('mpc_blame_total{protocol="keygen"}')).toBe(2);
    expect(v.get('mpc_partial_signatures_total')).toBe(2);
    expect(v.get('mpc_sign_duration_seconds_count')).toBe(2);
    expect(v.get('mpc_sign_duration_seconds_bucket{le="0.00025"}')).toBe(0);
    expect(v.get('mpc_sign_duration_seconds_bucket{le="0.0005"}')).toBe(1);
    expect(v.get('mpc_sign_duration_seconds_bucket{le="0.0025"}')).toBe(2);
    expect(v.get('mpc_presignatures_available{key="w1"}')).toBe(16);
    expect(v.get('mpc_presignatures_available{key="w2"}')).toBe(0);
    expect(v.get('mpc_nats_events_total{type="disconnect"}')).toBe(1);
    expect(v.get('mpc_nats_events_total{type="reconnect"}')).toBe(2);
    expect(v.get('mpc_nats_connected')).toBe(1);
    m.setNatsConnected(false);
    expect(parse(await m.render()).get('mpc_nats_connected')).toBe(0);
  });

  it('uses the documented buckets: 1 ms .. 120 s for sessions, 0.25 ms .. 1 s for signing', async () => {
    expect(SESSION_BUCKETS[0]).toBe(0.001);
    expect(SESSION_BUCKETS.at(-1)).toBe(120);
    expect(SIGN_BUCKETS[0]).toBe(0.00025);
    expect(SIGN_BUCKETS.at(-1)).toBe(1);
    const m = new DaemonMetrics({ defaultMetrics: false });
    m.sessionEnded('sign', 'timeout', 1);
    m.partialIssued(0.01);
    const v = parse(await m.render());
    for (const le of SESSION_BUCKETS) {
      expect(v.has(`mpc_session_duration_seconds_bucket{le="${le}",protocol="sign"}`)).toBe(true);
    }
    for (const le of SIGN_BUCKETS) expect(v.has(`mpc_sign_duration_seconds_bucket{le="${le}"}`)).toBe(true);
  });

  it('never throws on bad input: unknown outcome → error, bad labels → invalid, bad amounts ignored', async () => {
    const m = new DaemonMetrics({ defaultMetrics: false });
    expect(() => {
      m.sessionEnded('sign', 'exploded' as never, Number.NaN); // ended without a start: active stays 0
      m.sessionEnded('sign', 'ok', -1);
      m.frameRefused('x"} 1\nmpc_fake 1');
      m.frameRefused('');
      m.blamed('sign', Number.POSITIVE_INFINITY);
      m.blamed('sign', -2);
      m.partialIssued(Number.NaN);
      m.setPresignaturesAvailable('w1', -5);
      m.natsEvent(undefined as never);
    }).not.toThrow();
    const text = await m.render();
    const v = parse(text);
    expect(v.get('mpc_sessions_total{outcome="error",protocol="sign"}')).toBe(1);
    expect(v.get('mpc_sessions_total{outcome="ok",protocol="sign"}')).toBe(1);
    expect(v.get('mpc_session_duration_seconds_count{protocol="sign"}')).toBeUndefined();
    expect(v.get('mpc_sessions_active{protocol="sign"}')).toBeUndefined();
    expect(v.get('mpc_frames_refused_total{code="invalid"}')).toBe(2);
    expect(text).not.toContain('mpc_fake');
    expect(v.get('mpc_blame_total{protocol="sign"}')).toBeUndefined();
    expect(v.get('mpc_partial_signatures_total')).toBe(1);
    expect(v.get('mpc_sign_duration_seconds_count')).toBe(0);
    expect(v.has('mpc_presignatures_available{key="w1"}')).toBe(false);
    expect(v.get('mpc_nats_events_total{type="invalid"}')).toBe(1);
  });

  it('keeps each instance on its own registry (never the global one); default metrics carry the mpc_ prefix', async () => {
    const a = new DaemonMetrics();
    const b = new DaemonMetrics();
    a.frameRefused('ERR_TRANSPORT_REPLAY');
    expect(parse(await a.render()).get('mpc_frames_refused_total{code="ERR_TRANSPORT_REPLAY"}')).toBe(1);
    expect(parse(await b.render()).has('mpc_frames_refused_total{code="ERR_TRANSPORT_REPLAY"}')).toBe(false);
    expect(globalRegistry.getSingleMetric('mpc_sessions_total')).toBeUndefined();
    expect(await a.render()).toMatch(/^mpc_process_cpu_seconds_total \S+$/m);
    expect(await new DaemonMetrics({ defaultMetrics: false }).render()).not.toContain('mpc_process_');
  });
});
