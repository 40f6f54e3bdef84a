/**
 * Validators for the names vmrouter passes to iproute2, nft and /proc/sys.
 *
 * Every string that reaches a command line or a path goes through one of these first: the hooks run
 * as root from environment variables that ifupdown and hypervisors fill in, so nothing is trusted.
 */

/**
 * Linux accepts almost any byte in an interface name (net/core/dev.c dev_valid_name: 1-15 bytes, not
 * "." or "..", no '/', ':' or white space). vmrouter is stricter: names also appear in nft scripts, in
 * /proc/sys paths and in ifupdown stanzas, so only letters, digits and "_.-" are accepted.
 */
const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

export function ifnameProblem(name: string): string | null {
  if (name.length === 0) return 'is empty';
  if (Buffer.byteLength(name) > 15) return `is ${Buffer.byteLength(name)} bytes long; Linux interface names have at most 15`;
  // (also refuses "." and "..", which Linux forbids: the first character must be a letter or digit)
  if (!IFNAME.test(name)) return 'is not a valid interface name (letters, digits and "_.-" only, starting with a letter or digit)';
  return null;
}

/** Network names become nft element comments, state keys and ifupdown option values. */
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

export function networkNameProblem(name: string): string | null {
  return NETWORK_NAME.test(name) ? null : 'is not a valid network name (1-32 letters, digits, "_" or "-", starting with a letter or digit)';
}

/** iproute2 table names (rt_tables.d): a single word that is not a number. */
const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,31}$/;

export function tableNameProblem(name: string): string | null {
  if (!TABLE_NAME.test(name)) return 'is not a valid routing table name (a word of letters, digits, "_" or "-")';
  if (['local', 'main', 'default', 'unspec', 'all'].includes(name)) return `is reserved by iproute2`;
  return null;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Returns the canonical (lower-case) MAC or null. Multicast and all-zero MACs are refused. */
export function parseMac(text: string): string | null {
  const mac = text.toLowerCase();
  if (!MAC.test(mac)) return null;
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1) return null;
  if (mac === '00:00:00:00:00:00') return null;
  return mac;
}

/** Unsigned decimal (or 0x hex) integer within [min, max], or null. */
export function parseUint(text: string, min: number, max: number): number | null {
  if (!/^(0|[1-9][0-9]{0,9}|0x[0-9a-fA-F]{1,8})$/.test(text)) return null;
  const value = Number(text);
  return Number.isSafeInteger(value) && value >= min && value <= max ? value : null;
}

export function parseBool(text: string): boolean | null {
  const t = text.toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(t)) return true;
  if (['0', 'no', 'false', 'off'].includes(t)) return false;
  return null;
}
