import Type from 'typebox';
import { isMpcError, MpcError } from '../errors/index.js';
import { defineCommand, EXIT, runCommand, usageError } from './command.js';
import { PartyFlag } from './flags.js';

const DEFAULT_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const ENV_NAME = { pattern: '^[A-Z_][A-Z0-9_]{0,63}$', metavar: 'VAR' } as const;

/** The token key label of a party, when the configuration does not name one. */
export const defaultKeyLabel = (party: number): string => `mpc-custody-party-${party}-kek`;

/**
 * `mpc-custody hsm-init`: provisions a party's HSM token. With --init-token it initializes a free
 * slot (C_InitToken with the SO PIN, then C_InitPIN for the user PIN — through Cryptoki, so no PIN
 * ever appears on a command line); then it creates (or checks) the party's non-extractable,
 * sensitive AES-256 sealing key and prints its label and attributes. Idempotent without --init-token.
 */
export const hsmInit = defineCommand({
  name: 'hsm-init',
  summary: "create (or check) a party's non-extractable AES-256 sealing key in a PKCS#11 token",
  flags: Type.Object({
    token: Type.String({ minLength: 1, maxLength: 32, metavar: 'LABEL', description: 'token label' }),
    party: PartyFlag('party index (names the default key label)'),
    module: Type.String({ minLength: 1, default: DEFAULT_MODULE, metavar: 'PATH', description: 'PKCS#11 module' }),
    keyLabel: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        metavar: 'LABEL',
        description: 'key label (default mpc-custody-party-N-kek)',
      }),
    ),
    initToken: Type.Optional(Type.Boolean({ description: 'initialize a free slot as this token first' })),
    pinEnv: Type.String({ ...ENV_NAME, default: 'MPC_HSM_PIN', description: 'variable holding the user PIN' }),
    soPinEnv: Type.String({ ...ENV_NAME, default: 'MPC_HSM_SO_PIN', description: 'variable holding the SO PIN' }),
  }),
  help: 'PINs are read from environment variables, never from arguments.',
  async run(f, io) {
    const keyLabel = f.keyLabel ?? defaultKeyLabel(f.party);
    const pin = process.env[f.pinEnv];
    if (pin === undefined || pin.length < 4)
      throw usageError(`set the user PIN (4 characters or more) in $${f.pinEnv} (--pin-env)`, '--pin-env');
    let soPin: string | undefined;
    if (f.initToken === true) {
      soPin = process.env[f.soPinEnv];
      if (soPin === undefined || soPin.length < 4)
        throw usageError(`set the SO PIN (4 characters or more) in $${f.soPinEnv} (--so-pin-env)`, '--so-pin-env');
    }
    const { Pkcs11Sealer } = await import('../storage/pkcs11-sealer.js');
    /** The module, token or key a refusal is about, by the flag that names it. */
    const named = (e: unknown): unknown => {
      if (!(e instanceof MpcError)) return e;
      const about: Partial<Record<string, [string, Record<string, string>]>> = {
        ERR_HSM_UNAVAILABLE: [`PKCS#11 module ${f.module} (--module)`, { path: f.module }],
        ERR_HSM_TOKEN_NOT_FOUND: [`token "${f.token}" (--token)`, { token: f.token }],
        ERR_HSM_KEY_NOT_FOUND: [`key "${keyLabel}" in token "${f.token}"`, { token: f.token, keyLabel }],
      };
      const it = about[e.code];
      return it === undefined
        ? e
        : new MpcError(e.code, `${e.reason}: ${it[0]}`, { details: { ...e.details, ...it[1] }, cause: e });
    };
    try {
      if (soPin !== undefined) {
        await initToken(f.module, f.token, soPin, pin);
        io.out(`hsm-init: initialized token "${f.token}"`);
      }
      const sealer = Pkcs11Sealer.open({ library: f.module, tokenLabel: f.token, pin, keyLabel, createKey: true });
      sealer.close();
    } catch (e) {
      throw named(e);
    }
    io.out(
      `hsm-init: party ${f.party} sealing key "${keyLabel}" ready in token "${f.token}" (AES-256, sensitive, non-extractable, encrypt/decrypt only)`,
    );
    return EXIT.ok;
  },
});

/** The command with its output and error line on one stream (tests and callers holding argv). */
export const hsmInitCommand = (args: readonly string[], out: (line: string) => void): Promise<number> =>
  runCommand(hsmInit, args, { out, err: out });

async function initToken(library: string, label: string, soPin: string, pin: string): Promise<void> {
  const { default: pkcs11js } = await import('pkcs11js');
  const { acquireModule, findSlotByLabel, releaseModule } = await import('../storage/pkcs11-sealer.js');
  const p11 = acquireModule(library);
  try {
    try {
      findSlotByLabel(p11, label);
      throw new MpcError('ERR_CONFIG_INVALID', 'a token with this label already exists');
    } catch (e) {
      if (!isMpcError(e, 'ERR_HSM_TOKEN_NOT_FOUND')) throw e;
    }
    const free = p11
      .C_GetSlotList(true)
      .find((s) => (p11.C_GetTokenInfo(s).flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0);
    if (free === undefined) throw new MpcError('ERR_HSM_TOKEN_NOT_FOUND', 'no free slot for a new token');
    p11.C_InitToken(free, soPin, label.padEnd(32, ' ')); // pkcs11js pads with NUL otherwise
    // SoftHSM reassigns slot ids at init: find the token again by label.
    const slot = findSlotByLabel(p11, label);
    const session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      p11.C_Login(session, pkcs11js.CKU_SO, soPin);
      p11.C_InitPIN(session, pin);
      p11.C_Logout(session);
    } finally {
      p11.C_CloseSession(session);
    }
  } catch (e) {
    if (e instanceof MpcError) throw e;
    throw new MpcError('ERR_HSM_OPERATION_FAILED', 'token initialization failed', { cause: e });
  } finally {
    releaseModule(library);
  }
}
