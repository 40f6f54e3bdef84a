/**
 * Standalone VRFs (seed 001, https://docs.kernel.org/networking/vrf.html): a VRF device with its
 * table, interfaces enslaved to it (each interface's stanza carries `vmrouter-vrf NAME`), their
 * addresses (added after enslaving, so their local and connected routes land in the VRF's table),
 * route leaking to other VRFs for non-overlapping prefixes, the l3mdev rule, optionally the local
 * table rule moved after it, and `tcp_l3mdev_accept`/`udp_l3mdev_accept`.
 *
 * The VRF device and everything node-wide are shared steps: created by the first interface that
 * comes up, removed with the last (the runner counts holders).
 */
import ipaddr from 'ipaddr.js';
import { overlaps, parseAddress, parsePrefix, type Prefix } from '../model/addr.js';
import { ifnameProblem, networkNameProblem, parseBool, parseUint } from '../model/names.js';
import { networksIn } from '../model/network.js';
import { Checker } from '../model/verify.js';
import { InputError, InvalidInput, type Origin } from '../config/errors.js';
import type { KeySpec } from '../config/schema.js';
import { ip, RT_PROTO, sysctl, type Step } from '../plan/step.js';
import type { Feature, FeatureRecord, RawSection } from './feature.js';
import { allocate, PREF_L3MDEV, RESERVED_TABLES, VRF_TABLES } from './rule-space.js';

export interface VrfRecord extends FeatureRecord {
  device: string;
  table: number;
  interfaces: string[];
  /** IFACE → addresses (ADDRESS/LENGTH) */
  addresses: { iface: string; prefix: string; family: 4 | 6 }[];
  /** prefixes of other VRFs reachable from this one */
  leaks: { vrf: string; device: string; table: number; prefix: Prefix }[];
  moveLocalRule: boolean;
  l3mdevAccept: boolean;
  origin: Origin;
}

export const VRF_KEYS: readonly KeySpec[] = [
  { key: 'interfaces', type: 'ifname-list', help: 'interfaces to enslave, separated by spaces (each one\'s stanza gets `vmrouter-vrf NAME`)' },
  { key: 'device', type: 'ifname', default: 'vrf-NAME', help: 'name of the VRF device' },
  { key: 'table', type: 'table', default: `allocated from ${VRF_TABLES[0]}-${VRF_TABLES[1]}`, help: 'routing table of the VRF' },
  { key: 'addresses', type: 'vrf-addresses', help: 'IFACE=ADDRESS/LENGTH ..., added after enslaving so their routes are in the VRF table (IPv6 with nodad)' },
  { key: 'leak', type: 'vrf-leaks', help: 'OTHERVRF=PREFIX ...: route these prefixes of another [vrf] into this one (route leaking; the prefixes must not overlap this VRF\'s own addresses)' },
  { key: 'local_rule', type: 'local-rule', default: 'keep', help: 'keep, or move: put `lookup local` after the l3mdev rule (pref 32765 instead of 0), so local addresses of a VRF are not reached from the default domain' },
  { key: 'l3mdev_accept', type: 'bool', default: 'no', help: 'set net.ipv4.tcp_l3mdev_accept and udp_l3mdev_accept: services bound to no VRF accept connections arriving in any VRF' },
];

/** The network of an interface address "192.0.2.1/24" (host bits allowed, unlike parsePrefix). */
function interfaceNetwork(text: string): Prefix | null {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  const addr = m ? parseAddress(m[1]!) : null;
  if (!m || !addr || Number(m[2]) > (addr.family === 4 ? 32 : 128)) return null;
  const net = addr.family === 4 ? ipaddr.IPv4.networkAddressFromCIDR(text) : ipaddr.IPv6.networkAddressFromCIDR(text);
  const p = parsePrefix(`${net.kind() === 'ipv6' ? (net as ipaddr.IPv6).toRFC5952String() : net.toString()}/${m[2]}`);
  return p && !('error' in p) ? p : null;
}

function splitPairs(c: Checker, key: string): [string, string][] {
  const v = c.value(key);
  if (!v) return [];
  const out: [string, string][] = [];
  for (const token of v.value.split(/[\s,]+/).filter(Boolean)) {
    const eq = token.indexOf('=');
    if (eq <= 0) c.fail(key, `${JSON.stringify(token)} is not NAME=PREFIX`);
    else out.push([token.slice(0, eq), token.slice(eq + 1)]);
  }
  return out;
}

function verifyOne(raw: RawSection, taken: Set<number>): { record: VrfRecord | null; problems: InputError[] } {
  const c = new Checker(raw);
  const p = networkNameProblem(raw.name);
  if (p) c.problems.push(new InputError(raw.origin, `vrf name ${JSON.stringify(raw.name)} ${p}`));
  const device = c.has('device') ? c.ifname('device') : `vrf-${raw.name}`;
  if (!c.has('device') && ifnameProblem(`vrf-${raw.name}`)) c.fail('device', `is required: vrf-${raw.name} ${ifnameProblem(`vrf-${raw.name}`)}`);
  const ifaces = (c.required('interfaces', '(the interfaces to enslave)') ?? '').split(/[\s,]+/).filter(Boolean);
  for (const i of ifaces) {
    const prob = ifnameProblem(i);
    if (prob) c.fail('interfaces', `${JSON.stringify(i)} ${prob}`);
  }
  let table = c.has('table') ? c.typed('table', (t) => { const n = parseUint(t, 1, 0xffffffff); return n !== null && !RESERVED_TABLES.has(n) ? n : null; }, 'is not a usable routing table id (not 0, 253, 254, 255)') : null;
  if (table !== null && taken.has(table)) c.fail('table', `table ${table} is already used by another section`);
  if (!c.has('table')) table = allocate(VRF_TABLES, taken)?.[0] ?? null;
  const addresses: VrfRecord['addresses'] = [];
  const own: Prefix[] = [];
  for (const [iface, text] of splitPairs(c, 'addresses')) {
    const network = interfaceNetwork(text);
    if (!ifaces.includes(iface)) c.fail('addresses', `${iface} is not one of interfaces`);
    else if (!network) c.fail('addresses', `${JSON.stringify(text)} is not ADDRESS/LENGTH`);
    else {
      addresses.push({ iface, prefix: text, family: network.family });
      own.push(network);
    }
  }
  // resolved once every section is known (a VRF may leak from one defined after it)
  const leaks: VrfRecord['leaks'] = [];
  for (const [vrf, text] of splitPairs(c, 'leak')) {
    const prefix = parsePrefix(text);
    if (!prefix || 'error' in prefix) c.fail('leak', `${JSON.stringify(text)} ${prefix && 'error' in prefix ? prefix.error : 'is not a prefix'}`);
    else if (own.some((o) => overlaps(o, prefix))) c.fail('leak', `${prefix.cidr} overlaps an address range of this VRF; leaking needs distinct networks`);
    else leaks.push({ vrf, device: '', table: 0, prefix });
  }
  const lr = c.value('local_rule')?.value ?? 'keep';
  if (lr !== 'keep' && lr !== 'move') c.fail('local_rule', `${JSON.stringify(lr)} is not keep or move`);
  const l3mdevAccept = c.has('l3mdev_accept') ? (c.typed('l3mdev_accept', parseBool, 'is not a boolean (yes/no)') ?? false) : false;
  if (c.problems.length > 0 || !device || table === null) return { record: null, problems: c.problems };
  return { record: { name: raw.name, device, table, interfaces: ifaces, addresses, leaks, moveLocalRule: lr === 'move', l3mdevAccept, origin: raw.origin }, problems: [] };
}

/** The VRF device itself: shared by its interfaces (and by leaks from other VRFs into it). */
function deviceSteps(device: string, table: number): Step[] {
  return [
    ip(0, ['link', 'add', 'dev', device, 'type', 'vrf', 'table', String(table)], ['link', 'del', 'dev', device], `VRF ${device} with table ${table}`, { shared: true }),
    ip(0, ['link', 'set', 'dev', device, 'up'], null, 'a VRF routes only when up', { shared: true }),
  ];
}

/** The l3mdev rule, created by vmrouter (proto kernel, as the VRF driver would) so it goes with the last VRF. */
export function l3mdevRules(): Step[] {
  return ([4, 6] as const).map((f) => ip(f, ['rule', 'add', 'pref', String(PREF_L3MDEV), 'l3mdev', 'proto', 'kernel'], ['rule', 'del', 'pref', String(PREF_L3MDEV), 'l3mdev', 'proto', 'kernel'], 'the l3mdev rule: lookups of enslaved devices use their VRF table', { shared: true }));
}

export function planVrfInterface(r: VrfRecord, iface: string): Step[] {
  const steps: Step[] = [...l3mdevRules()];
  if (r.moveLocalRule) {
    // seed 001 "Note on the default route order": local after l3mdev, so a VRF's local addresses are
    // not delivered in the default domain. Added at 32765 before the one at 0 goes.
    for (const f of [4, 6] as const) {
      steps.push(ip(f, ['rule', 'add', 'pref', '32765', 'table', 'local'], ['rule', 'del', 'pref', '32765', 'table', 'local'], 'the local table after the l3mdev rule', { shared: true }));
      steps.push(ip(f, ['rule', 'del', 'pref', '0', 'table', 'local'], ['rule', 'add', 'pref', '0', 'table', 'local'], 'no local lookup before the l3mdev rule', { shared: true }));
    }
  }
  steps.push(...deviceSteps(r.device, r.table));
  if (r.leaks.length > 0) {
    // forwarded packets enter through the VRF device (vrf_ip_rcv sets skb->dev)
    steps.push(sysctl(`net/ipv4/conf/${r.device}/forwarding`, '1', '0', `forward IPv4 leaked out of ${r.device}`, true));
    steps.push(sysctl(`net/ipv4/conf/${iface}/forwarding`, '1', '0', `forward IPv4 entering on ${iface}`));
    if (r.leaks.some((l) => l.prefix.family === 6)) steps.push(sysctl('net/ipv6/conf/all/forwarding', '1', '0', 'IPv6 forwarding is node-wide in Linux', true));
  }
  steps.push(ip(0, ['link', 'set', 'dev', iface, 'master', r.device], ['link', 'set', 'dev', iface, 'nomaster'], `enslave ${iface} to ${r.device}`));
  for (const a of r.addresses.filter((x) => x.iface === iface)) {
    steps.push(ip(a.family, ['addr', 'add', a.prefix, 'dev', iface, ...(a.family === 6 ? ['nodad'] : [])], ['addr', 'del', a.prefix, 'dev', iface], `${iface}'s address, its routes in table ${r.table}`));
  }
  for (const l of r.leaks) {
    // the other VRF's device is created here too if it is not up yet (same shared step, once: a
    // key twice in one plan would be created twice and the second "exists" would disown it)
    if (!steps.some((s) => s.key === deviceSteps(l.device, l.table)[0]!.key)) steps.push(...deviceSteps(l.device, l.table));
    const route = [l.prefix.cidr, 'dev', l.device, 'table', String(r.table), 'proto', RT_PROTO];
    steps.push(ip(l.prefix.family, ['route', 'add', ...route], ['route', 'del', ...route], `leak ${l.prefix.cidr} of VRF ${l.vrf} into ${r.device}`, { shared: true }));
  }
  if (r.l3mdevAccept) {
    steps.push(sysctl('net/ipv4/tcp_l3mdev_accept', '1', '0', 'services bound to no VRF accept TCP from VRFs', true));
    steps.push(sysctl('net/ipv4/udp_l3mdev_accept', '1', '0', 'services bound to no VRF accept UDP from VRFs', true));
  }
  return steps;
}

export const vrfFeature: Feature<VrfRecord> = {
  kind: 'vrf',
  usesKernel: true,
  summary: 'A VRF device with its table, enslaved interfaces and their addresses, route leaking between VRFs, the l3mdev and local rule order.',
  keys: VRF_KEYS,
  verify(sections, context) {
    const problems: InputError[] = [];
    const records: VrfRecord[] = [];
    const taken = new Set<number>(networksIn(context.records).flatMap((n) => (n.table !== null ? [n.table] : [])));
    const owner = new Map<string, string>();
    for (const raw of sections) {
      const r = verifyOne(raw, taken);
      problems.push(...r.problems);
      if (!r.record) continue;
      for (const i of r.record.interfaces) {
        if (owner.has(i)) problems.push(new InputError(raw.values.get('interfaces')?.origin ?? raw.origin, `${i} is already enslaved by [vrf ${owner.get(i)}]`));
        owner.set(i, r.record.name);
      }
      taken.add(r.record.table);
      records.push(r.record);
    }
    for (const r of records) {
      const raw = sections.find((x) => x.name === r.name)!;
      for (const l of r.leaks) {
        const other = records.find((x) => x.name === l.vrf);
        if (!other || other === r) problems.push(new InputError(raw.values.get('leak')?.origin ?? raw.origin, `${l.vrf}: ${other ? 'a VRF cannot leak from itself' : `no [vrf ${l.vrf}] section`}`));
        else Object.assign(l, { device: other.device, table: other.table });
      }
    }
    if (problems.length > 0) throw new InvalidInput(problems);
    return records;
  },
  attach(r) {
    return r.interfaces.map((iface) => ({ iface, summary: `enslaved to ${r.device} (table ${r.table})`, steps: planVrfInterface(r, iface) }));
  },
  lint: (records, { kernel }) => (kernel && !kernel.vrf && records.length > 0 ? ['[vrf] sections need VRF devices, which this kernel lacks; ifup will fail'] : []),
  ruleUsers: (r) => [{ who: `[vrf ${r.name}]`, tables: [r.table], rules: [], vrf: true }],
};
