/**
 * One identity for a kernel object, computed two ways: from the Step that created it (what the
 * ledger says) and from the kernel's own listing of it (`ip -j …`, `nft -j list …`). `vmrouter
 * doctor` compares the two sets; anything only in the ledger is missing, anything stamped as
 * vmrouter's (proto 86, a vmrouter nft table) only in the kernel is nobody's. Pure.
 *
 * Identities name what makes the object the one vmrouter made — table, destination, next hop,
 * device, protocol for a route — and leave out what the kernel adds by itself (scope, metric of
 * IPv4 routes, flags it sets, handles, counters).
 */
import type { HeldStep } from '../plan/step.js';

/**
 * "192.0.2.11/32" → "192.0.2.11", "2001:db8::11/128" → "2001:db8::11" (`hostLength`: keep, and add
 * it to a bare address, as rules print it); "default" stays. No parsing: both sides are canonical
 * already (the model keeps RFC 5952 text, the kernel prints it), and doctor compares tens of
 * thousands of them on every check.
 */
function address(text: string, hostLength: boolean): string {
  if (text === 'default') return text;
  const t = text.toLowerCase();
  const slash = t.indexOf('/');
  const full = t.includes(':') ? '128' : '32';
  if (slash < 0) return hostLength ? `${t}/${full}` : t;
  return !hostLength && t.slice(slash + 1) === full ? t.slice(0, slash) : t;
}

const TABLE_NAMES: Record<string, string> = { '254': 'main', '255': 'local', '253': 'default' };
const table = (t: string | undefined): string => (t === undefined ? 'main' : (TABLE_NAMES[t] ?? t));

/** `ip … route add ARGS` → its identity; null for forms doctor does not check. */
export function routeOfArgs(family: 4 | 6, args: readonly string[]): string | null {
  const a = [...args];
  let dst = a.shift()!;
  const o = { dst: '', via: '', dev: '', table: 'main', proto: '', nhid: '', nexthops: [] as string[], type: 'unicast' };
  if (['local', 'blackhole', 'unreachable', 'prohibit', 'throw'].includes(dst)) {
    o.type = dst;
    dst = a.shift()!;
  }
  o.dst = address(dst, false);
  while (a.length > 0) {
    const w = a.shift()!;
    if (w === 'via') o.via = address(a.shift()!, false);
    else if (w === 'dev') o.dev = a.shift()!;
    else if (w === 'table') o.table = table(a.shift());
    else if (w === 'proto') o.proto = a.shift()!;
    else if (w === 'nhid') o.nhid = a.shift()!;
    else if (w === 'nexthop') {
      const hop: string[] = [];
      while (a.length > 0 && a[0] !== 'nexthop') {
        const k = a.shift()!;
        if (k === 'via') hop.push(`via ${address(a.shift()!, false)}`);
        else if (k === 'dev') hop.push(`dev ${a.shift()!}`);
        else a.shift();
      }
      o.nexthops.push(hop.join(' '));
    } else if (w === 'src' || w === 'metric') a.shift();
  }
  return routeIdentity(family, o);
}

function routeIdentity(family: 4 | 6, o: { dst: string; via: string; dev: string; table: string; proto: string; nhid: string; nexthops: string[]; type: string }): string {
  const hops = o.nexthops.length > 0 ? ` nexthops ${[...o.nexthops].sort().join(',')}` : '';
  return `route -${family} ${o.type} ${o.dst} table ${o.table}${o.via ? ` via ${o.via}` : ''}${o.dev && !hops ? ` dev ${o.dev}` : ''}${o.nhid ? ` nhid ${o.nhid}` : ''}${hops} proto ${o.proto || 'boot'}`;
}

export interface IpRoute {
  type?: string;
  dst: string;
  gateway?: string;
  dev?: string;
  table?: string;
  protocol?: string;
  nhid?: number;
  nexthops?: { gateway?: string; dev?: string }[];
}

/** route types that send nowhere: IPv6 lists them on lo (the kernel's null entry), IPv4 on no device */
const DEVICELESS = new Set(['blackhole', 'unreachable', 'prohibit', 'throw']);

export function routeOfJson(family: 4 | 6, r: IpRoute): string {
  const type = r.type ?? 'unicast';
  return routeIdentity(family, {
    type,
    dst: address(r.dst, false),
    via: r.gateway ? address(r.gateway, false) : '',
    dev: DEVICELESS.has(type) && r.dev === 'lo' ? '' : (r.dev ?? ''),
    table: table(r.table),
    proto: r.protocol ?? '',
    nhid: r.nhid !== undefined ? String(r.nhid) : '',
    nexthops: (r.nexthops ?? []).map((h) => [h.gateway ? `via ${address(h.gateway, false)}` : '', h.dev ? `dev ${h.dev}` : ''].filter(Boolean).join(' ')),
  });
}

/** `ip … rule add ARGS` → its identity. */
export function ruleOfArgs(family: 4 | 6, args: readonly string[]): string {
  const a = [...args];
  const o: Record<string, string> = {};
  while (a.length > 0) {
    const w = a.shift()!;
    if (w === 'l3mdev') o.l3mdev = 'yes';
    else if (['unreachable', 'blackhole', 'prohibit'].includes(w)) o.action = w;
    else if (w === 'pref' || w === 'priority') o.pref = a.shift()!;
    else if (w === 'lookup' || w === 'table') o.table = table(a.shift());
    else if (w === 'fwmark') o.fwmark = `0x${Number(a.shift()).toString(16)}`;
    else if (w === 'from' || w === 'to') o[w] = address(a.shift()!, true);
    else if (w === 'iif' || w === 'oif' || w === 'proto') o[w] = a.shift()!;
    else a.shift();
  }
  return ruleIdentity(family, o);
}

function ruleIdentity(family: 4 | 6, o: Record<string, string>): string {
  // `ip -j rule show` leaves out `proto kernel` (iproute2 prints a rule's protocol only when it is
  // neither unspec nor kernel, unless -d): the kernel's own l3mdev rule has no protocol there
  if (o.proto === 'kernel') o = { ...o, proto: '' };
  return `rule -${family} ${['pref', 'from', 'to', 'iif', 'oif', 'fwmark', 'l3mdev', 'table', 'action', 'proto'].filter((k) => o[k] !== undefined && o[k] !== '').map((k) => `${k} ${o[k]}`).join(' ')}`;
}

export interface IpRule {
  priority: number;
  src?: string;
  srclen?: number;
  dst?: string;
  dstlen?: number;
  iif?: string;
  oif?: string;
  fwmark?: string;
  table?: string;
  action?: string;
  protocol?: string;
  l3mdev?: null;
}

export function ruleOfJson(family: 4 | 6, r: IpRule): string {
  const o: Record<string, string> = { pref: String(r.priority) };
  if (r.src && r.src !== 'all') o.from = address(`${r.src}/${r.srclen ?? (family === 4 ? 32 : 128)}`, true);
  if (r.dst && r.dst !== 'all') o.to = address(`${r.dst}/${r.dstlen ?? (family === 4 ? 32 : 128)}`, true);
  if (r.iif) o.iif = r.iif;
  if (r.oif) o.oif = r.oif;
  if (r.fwmark) o.fwmark = `0x${Number(r.fwmark).toString(16)}`;
  if ('l3mdev' in r) o.l3mdev = 'yes';
  if (r.table) o.table = table(r.table);
  if (r.action && r.action !== 'to_tbl') o.action = r.action;
  if (r.protocol) o.proto = r.protocol;
  return ruleIdentity(family, o);
}

export const proxyNeigh = (addr: string, dev: string): string => `proxy ${address(addr, false)} dev ${dev}`;
export const addrIdentity = (cidr: string, dev: string): string => `addr ${address(cidr, true)} dev ${dev}`;

/** An nft set element as "table set key[ : value]" with quotes, spaces and address forms normalised. */
export function elementOfStep(add: string): { table: string; set: string; element: string } | null {
  const m = /^add element (\S+ \S+) (\S+) \{ (.*) \}$/.exec(add);
  if (!m) return null;
  const [key, value] = m[3]!.split(' : ');
  const norm = (part: string) => part.split(' . ').map((p) => token(p.trim().replace(/^"(.*)"$/, '$1'))).join(' . ');
  return { table: m[1]!, set: m[2]!, element: value === undefined ? norm(key!) : `${norm(key!)} : ${norm(value)}` };
}

function token(t: string): string {
  if (/^[0-9]+$/.test(t)) return String(Number(t));
  if (/^0x[0-9a-f]+$/i.test(t)) return String(Number(t));
  return t.includes('.') || t.includes(':') ? address(t, false) : t;
}

type NftValue = string | number | { concat: NftValue[] } | { prefix: { addr: string; len: number } } | { range: [NftValue, NftValue] };

function nftValue(v: NftValue): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return token(v);
  if ('concat' in v) return v.concat.map(nftValue).join(' . ');
  if ('prefix' in v) return address(`${v.prefix.addr}/${v.prefix.len}`, false);
  if ('range' in v) return `${nftValue(v.range[0])}-${nftValue(v.range[1])}`;
  return JSON.stringify(v);
}

/** An element of `nft -j list` output (set: the key; map: [key, value]) in the form of elementOfStep. */
export function elementOfJson(e: NftValue | [NftValue, NftValue] | { elem: { val: NftValue } }): string {
  if (Array.isArray(e)) return `${nftValue(e[0])} : ${nftValue(e[1])}`;
  if (typeof e === 'object' && 'elem' in e) return nftValue(e.elem.val);
  return nftValue(e);
}

/** What a held step is, for doctor: the identity to look up, and in which of the kernel's lists. */
export type Probe =
  | { kind: 'route' | 'rule' | 'neigh' | 'addr' | 'nexthop'; id: string }
  | { kind: 'link'; dev: string; want: 'exists' | 'up' | { master: string } }
  | { kind: 'table'; table: string }
  | { kind: 'element'; table: string; set: string; element: string }
  | { kind: 'sysctl'; path: string; value: string }
  | { kind: 'mac'; dev: string; mac: string }
  | { kind: 'unchecked' };

/** Probes by step key: the steps of a ledger change little between checks (the reconciler runs for weeks). */
const probes = new Map<string, Probe>();

export function probeOf(s: HeldStep): Probe {
  let p = probes.get(s.key);
  if (p === undefined) {
    p = probeOfStep(s);
    if (probes.size > 500_000) probes.clear();
    probes.set(s.key, p);
  }
  return p;
}

function probeOfStep(s: HeldStep): Probe {
  if (s.kind === 'sysctl') return { kind: 'sysctl', path: s.path, value: s.value };
  if (s.kind === 'mac') return { kind: 'mac', dev: s.dev, mac: s.mac.toLowerCase() };
  // tap up sets a down TAP up once; a TAP set down later is the hypervisor's or the operator's
  // choice, which repair must not undo (doctor still reports the routes the kernel dropped with it)
  if (s.kind === 'link-up') return { kind: 'unchecked' };
  if (s.kind === 'nft') {
    if (s.provides) return { kind: 'table', table: s.provides };
    const e = s.within ? elementOfStep(s.add[0] ?? '') : null;
    return e ? { kind: 'element', ...e } : { kind: 'unchecked' };
  }
  const [object, verb, ...rest] = s.args;
  // ip without -4/-6 (a TAP's steps): iproute2 takes the family from the first address
  const first = rest.find((x) => /^[0-9a-f:.]+(\/\d+)?$/i.test(x) && (x.includes(':') || x.includes('.')));
  const family: 4 | 6 = s.family !== 0 ? s.family : first !== undefined && first.includes(':') ? 6 : 4;
  if (object === 'route' && verb === 'add') {
    const id = routeOfArgs(family, rest);
    return id ? { kind: 'route', id } : { kind: 'unchecked' };
  }
  if (object === 'rule' && verb === 'add') return { kind: 'rule', id: ruleOfArgs(family, rest) };
  if (object === 'neigh' && verb === 'add' && rest[0] === 'proxy') return { kind: 'neigh', id: proxyNeigh(rest[1]!, rest[rest.indexOf('dev') + 1]!) };
  if (object === 'addr' && verb === 'add') return { kind: 'addr', id: addrIdentity(rest[0]!, rest[rest.indexOf('dev') + 1]!) };
  if (object === 'nexthop' && verb === 'add') return { kind: 'nexthop', id: `nexthop ${rest[rest.indexOf('id') + 1]}` };
  if (object === 'link') {
    const dev = rest[rest.indexOf('dev') + 1]!;
    if (verb === 'add') return { kind: 'link', dev, want: 'exists' };
    if (verb === 'set' && rest.includes('up')) return { kind: 'link', dev, want: 'up' };
    if (verb === 'set' && rest.includes('master')) return { kind: 'link', dev, want: { master: rest[rest.indexOf('master') + 1]! } };
  }
  return { kind: 'unchecked' };
}
