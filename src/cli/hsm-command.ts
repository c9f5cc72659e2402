import pkcs11js from 'pkcs11js';
import { isMpcError, MpcError } from '../errors/index.js';
import { acquireModule, findSlotByLabel, Pkcs11Sealer, releaseModule } from '../storage/pkcs11-sealer.js';

const USAGE =
  'usage: mpc-custody hsm-init --token LABEL --party ID [--module PATH] [--key-label LABEL] ' +
  '[--init-token] [--pin-env VAR] [--so-pin-env VAR]\n' +
  '  PINs are read from environment variables (default MPC_HSM_PIN, MPC_HSM_SO_PIN), never from arguments.';
const DEFAULT_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

/** The token key label of a party, when the configuration does not name one. */
export const defaultKeyLabel = (party: number): string => `mpc-custody-party-${party}-kek`;

function flag(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
}

/**
 * `mpc-custody hsm-init`: provisions a party's HSM token. With --init-token it initializes a free
 * slot (C_InitToken with the SO PIN, then C_InitPIN for the user PIN — through Cryptoki, so no PIN
 * ever appears on a command line); then it creates (or checks) the party's non-extractable,
 * sensitive AES-256 sealing key and prints its label and attributes. Idempotent without --init-token.
 */
export async function hsmInitCommand(args: readonly string[], out: (line: string) => void): Promise<number> {
  const token = flag(args, '--token');
  const partyText = flag(args, '--party');
  const library = flag(args, '--module') ?? DEFAULT_MODULE;
  const pinEnv = flag(args, '--pin-env') ?? 'MPC_HSM_PIN';
  const soPinEnv = flag(args, '--so-pin-env') ?? 'MPC_HSM_SO_PIN';
  const party = partyText !== undefined && /^(0|[1-9][0-9]{0,9})$/.test(partyText) ? Number(partyText) : undefined;
  if (token === undefined || party === undefined || token.length < 1 || token.length > 32) {
    out(USAGE);
    return 2;
  }
  const keyLabel = flag(args, '--key-label') ?? defaultKeyLabel(party);
  const pin = process.env[pinEnv];
  if (pin === undefined || pin.length < 4) {
    out(`hsm-init: set the user PIN in $${pinEnv}`);
    return 2;
  }
  try {
    if (args.includes('--init-token')) {
      const soPin = process.env[soPinEnv];
      if (soPin === undefined || soPin.length < 4) {
        out(`hsm-init: set the SO PIN in $${soPinEnv}`);
        return 2;
      }
      initToken(library, token, soPin, pin);
      out(`hsm-init: initialized token "${token}"`);
    }
    const sealer = Pkcs11Sealer.open({ library, tokenLabel: token, pin, keyLabel, createKey: true });
    sealer.close();
    out(
      `hsm-init: party ${party} sealing key "${keyLabel}" ready in token "${token}" (AES-256, sensitive, non-extractable, encrypt/decrypt only)`,
    );
    return 0;
  } catch (e) {
    out(`hsm-init: ${isMpcError(e) ? e.message : 'failed'}`);
    return 1;
  }
}

function initToken(library: string, label: string, soPin: string, pin: string): void {
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
