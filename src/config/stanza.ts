/**
 * Reads a network from the options of an ifupdown stanza, as the hooks see them (IF_* environment
 * variables). Two dialects:
 *  - vmrouter's own `vmrouter-*` options, written by `vmrouter generate --style compact`: the same
 *    keys as vmrouter.conf, `_` spelled `-`; `vmrouter-network NAME` names the network;
 *  - the options of snf-network / gnt-networking stanzas (`ip-routing-table`, `ip-routes`, ...), read
 *    for the stanza's address family, so existing nodes keep working after installing vmrouter.
 * Either way the result goes through the same verify as vmrouter.conf.
 */
import { InputError, InvalidInput, type Origin } from './errors.js';
import type { RawNetwork } from './raw.js';
import { LEGACY_OPTIONS, NETWORK_KEYS } from '../features/network-keys.js';

export type AddressFamily = 'inet' | 'inet6';

export interface StanzaSource {
  iface: string;
  addrfam: AddressFamily;
  env: Readonly<Record<string, string | undefined>>;
  /** where the stanza is, when it could be found; errors name it */
  file: string;
  line?: number;
  /** line of each option, keyed by option name, when found */
  optionLines?: ReadonlyMap<string, number>;
  /** rt_tables names → ids, for `ip-routing-table NAME` */
  tableIds?: ReadonlyMap<string, number>;
}

export interface StanzaNetwork {
  raw: RawNetwork;
  /** vmrouter-* stanzas describe a whole network; legacy ones one address family of it */
  dialect: 'vmrouter' | 'legacy';
}

const envName = (option: string): string => `IF_${option.toUpperCase().replace(/-/g, '_')}`;

/** The legacy network of a stanza is named after its interface: eth0.222 → eth0_222. */
export const legacyName = (iface: string): string => iface.replace(/[^A-Za-z0-9_-]/g, '_');

export function readStanza(src: StanzaSource): StanzaNetwork | null {
  const section = `iface ${src.iface} ${src.addrfam}`;
  const origin = (option?: string): Origin => ({
    file: src.file,
    section,
    ...(option ? { key: option } : {}),
    ...((option ? src.optionLines?.get(option) : src.line) !== undefined ? { line: (option ? src.optionLines!.get(option) : src.line)! } : {}),
  });
  const values: RawNetwork['values'] = new Map();
  const get = (option: string): string | undefined => {
    const v = src.env[envName(option)];
    return v === undefined ? undefined : v.trim();
  };

  if (get('vmrouter-uplink') !== undefined) throw new InvalidInput([new InputError(origin('vmrouter-uplink'), `is not an option: the uplink is the stanza's interface ${src.iface}`)]);
  const own = NETWORK_KEYS.filter((k) => k.key !== 'uplink' && get(`vmrouter-${k.key.replace(/_/g, '-')}`) !== undefined);
  const name = get('vmrouter-network');
  if (name !== undefined || own.length > 0) {
    if (name === undefined) throw new InvalidInput([new InputError(origin('vmrouter-network'), 'is required with vmrouter-* options (the name of the network)')]);
    for (const k of own) {
      const option = `vmrouter-${k.key.replace(/_/g, '-')}`;
      values.set(k.key, { value: get(option)!, origin: origin(option) });
    }
    values.set('uplink', { value: src.iface, origin: origin() });
    return { raw: { name, origin: origin(), values }, dialect: 'vmrouter' };
  }

  const legacy = Object.keys(LEGACY_OPTIONS).filter((o) => get(o) !== undefined);
  if (legacy.length === 0) return null;
  const problems: InputError[] = [];
  values.set('role', { value: 'vmc', origin: origin() });
  values.set('uplink', { value: src.iface, origin: origin() });
  // snf-network stanzas switch each feature on explicitly ("ip-proxy-arp 1"); absent means off.
  for (const key of ['forwarding', 'proxy_arp', 'proxy_ndp']) values.set(key, { value: 'no', origin: origin() });
  for (const option of legacy) {
    const key = LEGACY_OPTIONS[option]![src.addrfam];
    let value = get(option)!;
    if (option === 'ip-routing-table' && !/^([0-9]+|0x[0-9a-fA-F]+)$/.test(value)) {
      const id = src.tableIds?.get(value);
      if (id === undefined) {
        problems.push(new InputError(origin(option), `table ${JSON.stringify(value)} is not in /etc/iproute2/rt_tables or rt_tables.d`));
        continue;
      }
      values.set('table_name', { value, origin: origin(option) });
      value = String(id);
    }
    if (option === 'ip-routes' && value.split(/\s+/).length > 1) {
      problems.push(new InputError(origin(option), 'lists several prefixes; vmrouter routes one subnet per address family and network'));
      continue;
    }
    if (option === 'arp-ip' && src.addrfam === 'inet6') continue;
    if (option === 'ip-proxy-arp' && src.addrfam === 'inet6') continue;
    if (option === 'ip-proxy-ndp' && src.addrfam === 'inet') continue;
    values.set(key, { value, origin: origin(option) });
  }
  if (problems.length > 0) throw new InvalidInput(problems);
  return { raw: { name: legacyName(src.iface), origin: origin(), values }, dialect: 'legacy' };
}

/** rt_tables format: "ID NAME" per line, # comments. */
export function parseRtTables(text: string): Map<string, number> {
  const ids = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^\s*(0x[0-9a-fA-F]+|[0-9]+)\s+([A-Za-z0-9_.-]+)\s*(#.*)?$/.exec(line);
    if (m) ids.set(m[2]!, Number(m[1]));
  }
  return ids;
}
