/**
 * What the kernel holds now, read in a few listings (three `ip -j -batch`, one `nft -j list
 * ruleset`) and reduced to the identities of doctor/identity.ts, so that `doctor`, `repair` and the
 * reconciler compare the ledger with the kernel, not with their memory. Reading only: nothing here
 * changes the host.
 */
import type { Host } from './host.js';
import { addrIdentity, elementOfJson, proxyNeigh, routeOfJson, ruleOfJson, type IpRoute, type IpRule } from '../doctor/identity.js';
import { RT_PROTO } from '../plan/step.js';

export interface LinkState {
  up: boolean;
  mac: string;
  master?: string;
  ifindex: number;
}

export interface TableState {
  /** chains and their rules as nft prints them (no handles, no counter values, no elements) */
  fingerprint: string;
  /** set or map name → its elements (doctor/identity.ts elementOfJson) */
  sets: Map<string, Set<string>>;
}

export interface KernelState {
  /** routes, rules, proxy neighbours, addresses and nexthop objects, by identity */
  objects: Set<string>;
  /** routes and rules stamped with vmrouter's protocol, by identity */
  stamped: Set<string>;
  links: Map<string, LinkState>;
  /** nft tables by "FAMILY NAME" */
  tables: Map<string, TableState>;
}

/** One JSON array per line of an `ip -j -batch` (one per command). */
function arrays(out: string): unknown[][] {
  return out.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown[]);
}

interface NftItem {
  table?: { family: string; name: string };
  chain?: { family: string; table: string; name: string; type?: string; hook?: string; prio?: number; policy?: string };
  rule?: { family: string; table: string; chain: string; expr: unknown[]; comment?: string };
  set?: NftSet;
  map?: NftSet;
}

interface NftSet {
  family: string;
  table: string;
  name: string;
  type: unknown;
  map?: unknown;
  flags?: string[];
  elem?: Parameters<typeof elementOfJson>[0][];
}

/** Counters change with traffic: the fingerprint of a rule leaves their values out. */
function withoutCounters(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(withoutCounters);
  if (x && typeof x === 'object') {
    return Object.fromEntries(Object.entries(x as Record<string, unknown>).filter(([k]) => k !== 'handle').map(([k, v]) => [k, k === 'counter' ? null : withoutCounters(v)]));
  }
  return x;
}

export function nftTables(json: string): Map<string, TableState> {
  const items = ((JSON.parse(json) as { nftables?: NftItem[] }).nftables ?? []);
  const tables = new Map<string, TableState>();
  const parts = new Map<string, string[]>();
  const tableOf = (family: string, name: string): TableState => {
    const key = `${family} ${name}`;
    let t = tables.get(key);
    if (!t) tables.set(key, (t = { fingerprint: '', sets: new Map() }));
    if (!parts.has(key)) parts.set(key, []);
    return t;
  };
  for (const item of items) {
    if (item.table) tableOf(item.table.family, item.table.name);
    const set = item.set ?? item.map;
    if (set) {
      const t = tableOf(set.family, set.table);
      t.sets.set(set.name, new Set((set.elem ?? []).map(elementOfJson)));
      parts.get(`${set.family} ${set.table}`)!.push(JSON.stringify({ set: set.name, type: set.type, map: set.map ?? null, flags: set.flags ?? [] }));
    }
    if (item.chain) {
      const c = item.chain;
      tableOf(c.family, c.table);
      parts.get(`${c.family} ${c.table}`)!.push(JSON.stringify({ chain: c.name, type: c.type ?? null, hook: c.hook ?? null, prio: c.prio ?? null, policy: c.policy ?? null }));
    }
    if (item.rule) {
      const r = item.rule;
      tableOf(r.family, r.table);
      parts.get(`${r.family} ${r.table}`)!.push(JSON.stringify({ rule: r.chain, expr: withoutCounters(r.expr), comment: r.comment ?? null }));
    }
  }
  for (const [key, t] of tables) t.fingerprint = (parts.get(key) ?? []).join('\n');
  return tables;
}

interface IpLink {
  ifname: string;
  ifindex: number;
  flags?: string[];
  address?: string;
  master?: string;
  addr_info?: { local: string; prefixlen: number }[];
}

/** Reads everything doctor compares, in four processes. */
export async function readKernel(host: Host): Promise<KernelState> {
  const per = 'rule show\nroute show table all\nneigh show proxy\n';
  const [v4, v6, common, nft] = await Promise.all([
    host.query('ip', ['-4', '-j', '-batch', '-'], per),
    host.query('ip', ['-6', '-j', '-batch', '-'], per),
    host.query('ip', ['-j', '-batch', '-'], 'addr show\n'),
    host.query('nft', ['-j', 'list', 'ruleset']),
  ]);
  // nexthop objects need kernel support (5.3); a kernel without them has none of vmrouter's
  const nexthops = await host.query('ip', ['-j', 'nexthop', 'show']).catch(() => '[]');
  const objects = new Set<string>();
  const stamped = new Set<string>();
  for (const [family, out] of [[4, v4], [6, v6]] as const) {
    const [rules = [], routes = [], neigh = []] = arrays(out);
    for (const r of rules as IpRule[]) {
      const id = ruleOfJson(family, r);
      objects.add(id);
      if (r.protocol === RT_PROTO) stamped.add(id);
    }
    for (const r of routes as IpRoute[]) {
      const id = routeOfJson(family, r);
      objects.add(id);
      if (r.protocol === RT_PROTO) stamped.add(id);
    }
    for (const n of neigh as { dst: string; dev: string }[]) objects.add(proxyNeigh(n.dst, n.dev));
  }
  const links = new Map<string, LinkState>();
  for (const l of (arrays(common)[0] ?? []) as IpLink[]) {
    links.set(l.ifname, { up: (l.flags ?? []).includes('UP'), mac: (l.address ?? '').toLowerCase(), ifindex: l.ifindex, ...(l.master ? { master: l.master } : {}) });
    for (const a of l.addr_info ?? []) objects.add(addrIdentity(`${a.local}/${a.prefixlen}`, l.ifname));
  }
  for (const n of (JSON.parse(nexthops || '[]') as { id: number }[])) objects.add(`nexthop ${n.id}`);
  return { objects, stamped, links, tables: nftTables(nft) };
}
