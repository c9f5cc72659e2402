/** Flag schemas several commands share (see command.ts). */
import Type from 'typebox';

/** A file path the command reads or writes. */
export const FileFlag = (description: string) => Type.String({ minLength: 1, metavar: 'FILE', description });

/** A key id as the party daemon accepts it (src/daemon/control.ts KEY_ID_RE). */
export const KeyIdFlag = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,119}$',
  metavar: 'ID',
  description: 'key id: letters, digits, _ and -, not starting with _ or -',
});

/** A roster party index. */
export const PartyFlag = (description: string) =>
  Type.Integer({ minimum: 0, maximum: 0xfffffffd, metavar: 'N', description });

/** A TCP port. */
export const PortFlag = (description: string, fallback: number) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: fallback, metavar: 'PORT', description });

/** Party ids separated by commas: `0,1,2`. */
export const PartyListFlag = (description: string) =>
  Type.String({ pattern: '^(0|[1-9][0-9]{0,8})(,(0|[1-9][0-9]{0,8}))*$', metavar: 'I,J[,…]', description });

/** A non-hardened BIP32 path below the key: `0/5`, empty for the key itself. */
export const PathFlag = (description: string) =>
  Type.String({ pattern: '^((0|[1-9][0-9]{0,9})(/(0|[1-9][0-9]{0,9}))*)?$', metavar: 'A/B/…', description });

export const NetworkFlag = Type.Union([Type.Literal('mainnet'), Type.Literal('testnet'), Type.Literal('regtest')], {
  default: 'mainnet',
  metavar: 'NET',
  description: 'Bitcoin network: mainnet, testnet or regtest',
});

/** `0,1` → [0, 1]; `` → []. The flag's pattern has already been checked. */
export const intList = (text: string, sep: ',' | '/'): number[] => (text === '' ? [] : text.split(sep).map(Number));
