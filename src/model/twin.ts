/**
 * [twin NAME] sections → verified records (seed 000): two interfaces of this node that carry the same
 * range, each side with its own table, mark and conntrack zone. The plan is features/twin-plan.ts;
 * features/twin.ts registers both.
 */
import { overlaps, type Family, type Prefix } from './addr.js';
import { networksIn } from './network.js';
import { networkNameProblem, parseBool, parseUint } from './names.js';
import { Checker } from './verify.js';
import { InputError, InvalidInput, formatOrigin, type Origin } from '../config/errors.js';
import type { KeySpec } from '../config/schema.js';
import type { FeatureContext, FeatureRecord, RawSection } from '../features/feature.js';
import { allocate, RESERVED_TABLES, TWIN_PREF, TWIN_TABLES } from '../features/rule-space.js';
import type { VrfRecord } from '../features/vrf.js';

export const VARIANTS = ['auto', 'vrf', 'policy'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface TwinFamily {
  subnet: Prefix;
  /** this node's address on both sides */
  address: string;
  /** the range through which each side reaches the other */
  mapped: Prefix;
}

export interface TwinSide {
  iface: string;
  /** routing table of this side; also its VRF's table */
  table: number;
  /** packets that must be routed in this side's table carry this mark */
  mark: number;
  /** conntrack zone (original direction) of connections entering on this side */
  zone: number;
  /** VRF device of this side (VRF variant) */
  vrf: string;
}

export interface TwinRecord extends FeatureRecord {
  variant: Variant;
  priority: number;
  l3mdevAccept: boolean;
  v4: TwinFamily | null;
  v6: TwinFamily | null;
  inner: TwinSide;
  outer: TwinSide;
  origin: Origin;
}

export const TWIN_KEYS: readonly KeySpec[] = [
  { key: 'inner', type: 'ifname', help: 'one interface carrying the shared range (its stanza gets `vmrouter-twin NAME`)' },
  { key: 'outer', type: 'ifname', help: 'the other interface carrying the same range' },
  { key: 'subnet', type: 'prefix4', help: 'the IPv4 range both sides use' },
  { key: 'address', type: 'addr4', help: 'this node\'s IPv4 address in subnet, on both interfaces' },
  { key: 'mapped', type: 'prefix4', help: 'the range, as long as subnet, through which each side reaches the other (NETMAP)' },
  { key: 'subnet6', type: 'prefix6', help: 'the IPv6 range both sides use (optional)' },
  { key: 'address6', type: 'addr6', help: 'this node\'s IPv6 address in subnet6, on both interfaces' },
  { key: 'mapped6', type: 'prefix6', help: 'the IPv6 range through which each side reaches the other' },
  { key: 'variant', type: 'twin-variant', default: 'auto', help: 'vrf: one VRF per side (needs CONFIG_NET_VRF); policy: one table per side chosen by fwmark (any kernel); auto: vrf when the kernel has it (`vmrouter check` says which)' },
  { key: 'table_inner', type: 'table', default: `allocated from ${TWIN_TABLES[0]}-${TWIN_TABLES[1]}`, help: 'routing table (and VRF table) of the inner side; also its mark and conntrack zone' },
  { key: 'table_outer', type: 'table', default: 'the next free id', help: 'routing table of the outer side; also its mark and conntrack zone' },
  { key: 'priority', type: 'priority', default: String(TWIN_PREF), help: 'preference of the twin\'s policy rules; below 1000 so they win over the l3mdev rule of VRFs' },
  { key: 'l3mdev_accept', type: 'bool', default: 'yes', help: 'VRF variant: set net.ipv4.tcp_l3mdev_accept and udp_l3mdev_accept, so services of this node bound to no VRF answer on both sides' },
];

type Raw = RawSection;

function family(c: Checker, f: Family, keys: readonly [string, string, string]): TwinFamily | null {
  const [sk, ak, mk] = keys;
  const present = keys.filter((k) => c.has(k));
  if (present.length === 0) return null;
  for (const k of keys) if (!c.has(k)) c.fail(k, `is required with ${present.join(', ')}`);
  const subnet = c.prefix(sk, f);
  const mapped = c.prefix(mk, f);
  const address = c.hostIn(ak, f, subnet);
  if (subnet && mapped) {
    if (subnet.length !== mapped.length) c.fail(mk, `${mapped.cidr} must be as long as ${sk} ${subnet.cidr} (NETMAP maps address for address)`);
    else if (overlaps(subnet, mapped)) c.fail(mk, `${mapped.cidr} overlaps ${sk} ${subnet.cidr}`);
  }
  return subnet && mapped && address ? { subnet, address, mapped } : null;
}

/** Tables and marks already spoken for by routed networks and by twins verified earlier. */
function takenTables(context: FeatureContext, earlier: readonly TwinRecord[]): Map<number, string> {
  const taken = new Map<number, string>();
  for (const n of networksIn(context.records)) {
    if (n.table !== null) taken.set(n.table, `[network ${n.name}]`);
    if (n.mark !== null && !taken.has(n.mark)) taken.set(n.mark, `[network ${n.name}] (as its mark)`);
  }
  for (const r of (context.records.get('vrf') ?? []) as VrfRecord[]) taken.set(r.table, `[vrf ${r.name}]`);
  for (const r of earlier) for (const s of [r.inner, r.outer]) taken.set(s.table, `[twin ${r.name}]`);
  return taken;
}

function verifyOne(raw: Raw, context: FeatureContext, earlier: TwinRecord[]): { record: TwinRecord | null; problems: InputError[] } {
  const c = new Checker(raw);
  const p = networkNameProblem(raw.name);
  if (p) c.problems.push(new InputError(raw.origin, `twin name ${JSON.stringify(raw.name)} ${p}`));
  const inner = c.required('inner', '(the first interface of the shared range)') === null ? null : c.ifname('inner');
  const outer = c.required('outer', '(the second interface of the shared range)') === null ? null : c.ifname('outer');
  if (inner && outer && inner === outer) c.fail('outer', `must differ from inner ${inner}`);
  const v4 = family(c, 4, ['subnet', 'address', 'mapped']);
  const v6 = family(c, 6, ['subnet6', 'address6', 'mapped6']);
  if (!['subnet', 'subnet6', 'address', 'address6', 'mapped', 'mapped6'].some((k) => c.has(k))) c.fail('subnet', 'or subnet6 is required (the range both sides share)');

  const variant = (c.typed('variant', (t) => ((VARIANTS as readonly string[]).includes(t) ? (t as Variant) : null), `is not one of ${VARIANTS.join(', ')}`) ?? 'auto') as Variant;
  const priority = c.has('priority') ? c.typed('priority', (t) => parseUint(t, 1, 32765), 'is not a rule priority that sorts before main (1-32765)') : TWIN_PREF;
  const l3mdevAccept = c.has('l3mdev_accept') ? (c.typed('l3mdev_accept', parseBool, 'is not a boolean (yes/no)') ?? true) : true;

  // Each table id is also the side's mark and conntrack zone (zones are 16 bits).
  const tableOf = (key: string) =>
    c.typed(key, (t) => { const n = parseUint(t, 1, 65535); return n !== null && !RESERVED_TABLES.has(n) ? n : null; }, 'is not a usable table id for a twin (1-65535, not 253-255: it is also the side\'s conntrack zone)');
  const taken = takenTables(context, earlier);
  let tIn = tableOf('table_inner');
  let tOut = tableOf('table_outer');
  for (const [key, t] of [['table_inner', tIn], ['table_outer', tOut]] as const) {
    if (t !== null && taken.has(t)) c.fail(key, `table ${t} is already used by ${taken.get(t)}`);
  }
  if (tIn !== null && tIn === tOut) c.fail('table_outer', `must differ from table_inner ${tIn}`);
  const busy = new Set([...taken.keys(), ...[tIn, tOut].filter((x): x is number => x !== null)]);
  if (!c.has('table_inner') || !c.has('table_outer')) {
    const free = allocate(TWIN_TABLES, busy, 2);
    if (!free) c.fail('table_inner', `no free table ids left in ${TWIN_TABLES.join('-')}; set table_inner and table_outer`);
    else {
      if (!c.has('table_inner')) tIn = free.shift()!;
      if (!c.has('table_outer')) tOut = free.shift()!;
    }
  }
  for (const r of earlier) {
    const where = `[twin ${r.name}] (${formatOrigin(r.origin).split(': ')[0]})`;
    for (const [key, iface] of [['inner', inner], ['outer', outer]] as const) {
      if (iface && (iface === r.inner.iface || iface === r.outer.iface)) c.fail(key, `${iface} already belongs to ${where}`);
    }
  }
  for (const n of networksIn(context.records)) {
    for (const [key, iface] of [['inner', inner], ['outer', outer]] as const) if (iface && iface === n.uplink) c.fail(key, `${iface} is the uplink of [network ${n.name}]`);
  }
  if (c.problems.length > 0 || !inner || !outer || tIn === null || tOut === null || priority === null) return { record: null, problems: c.problems };
  const side = (iface: string, table: number): TwinSide => ({ iface, table, mark: table, zone: table, vrf: `vrf${table}` });
  return {
    record: { name: raw.name, variant, priority, l3mdevAccept, v4, v6, inner: side(inner, tIn), outer: side(outer, tOut), origin: raw.origin } as TwinRecord,
    problems: [],
  };
}


/** Every [twin NAME] section, with the tables, marks and zones each side takes. */
export function verifyTwins(sections: readonly RawSection[], context: FeatureContext): TwinRecord[] {
  const problems: InputError[] = [];
  const records: TwinRecord[] = [];
  for (const raw of sections) {
    const r = verifyOne(raw, context, records);
    problems.push(...r.problems);
    if (r.record) records.push(r.record);
  }
  if (problems.length > 0) throw new InvalidInput(problems);
  return records;
}
