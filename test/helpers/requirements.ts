/**
 * Suites that need an outside part (nats-server, SoftHSM2, the built dist/) skip on a developer
 * machine without it, but must never skip in CI: there a silent skip would hide every check the
 * suite attacks. `CI` set to anything but '' / 'false' / '0' turns a missing part into a failure
 * when the test file is collected.
 *
 * @example describe.runIf(required(existsSync(NATS_SERVER_BIN), 'nats-server'))('…', () => { … });
 */
export function required(available: boolean, what: string): boolean {
  if (!available && inCi()) {
    throw new Error(`${what} is required in CI but missing: this suite would otherwise be skipped`);
  }
  return available;
}

function inCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}
