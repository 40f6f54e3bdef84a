/**
 * [natpair NAME] sections → verified records (seed 002: two NAT nodes joining overlapping customer
 * networks and a management network through unique addresses). Every derived value — each entry's
 * unique addresses, each customer interface's table and mark — is computed here, once.
 */
import { InputError, InvalidInput, formatOrigin } from '../config/errors.js';
import type { RawNetwork, RawValue } from '../config/raw.js';
import type { FeatureContext } from '../features/feature.js';
import ipaddr from 'ipaddr.js';
import { contains, parseAddress, parsePrefix, type Prefix } from './addr.js';
import { addressOf, allocate, blockProblem, pairsInBlock, type Want } from './nat-plan.js';
import { ifnameProblem, networkNameProblem, parseUint } from './names.js';
import { networksIn } from './network.js';
import { Checker } from './verify.js';

export const NATPAIR_ROLES = ['customer', 'management'] as const;
export type NatPairRole = (typeof NATPAIR_ROLES)[number];

export interface NatPairEntry {
  /** a management server customers reach, or a customer VM the management servers reach */
  kind: 'server' | 'vm';
  /** vm: the customer interface it is behind (on the management node only a label) */
  iface: string | null;
  address: string;
  /** vm: next hop towards it on its customer interface; null: on the link */
  via: string | null;
  pinned: boolean;
  pair: number;
  /** its unique address on the customer node (what customers use for a server) */
  customer: string;
  /** its unique address on the management node (what management servers use for a VM) */
  management: string;
  /** "file:line" of its line, for messages */
  at: string;
}

export interface NatCustomer {
  iface: string;
  table: number;
  mark: number;
  /**
   * conntrack zone of connections entering on this interface: customers use the same addresses and
   * ports as each other, so without a zone each their identical tuples would be one connection
   */
  zone: number;
}

export interface NatPairRecord {
  name: string;
  role: NatPairRole;
  block: string;
  /** transit interface k carries /27 pair k */
  transit: string[];
  /** management role: the interface towards the management servers */
  inside: string | null;
  /** management role: the node's own address on inside, ADDRESS/LENGTH, when vmrouter adds it */
  insideAddress: string | null;
  priority: number;
  /** customer role: one routing table (and mark) per customer interface, sorted by name */
  customers: NatCustomer[];
  entries: NatPairEntry[];
}

const RESERVED_TABLES = [0, 253, 254, 255];
/** conntrack zones are 16 bits (struct nf_conntrack_zone.id); 0 is the default zone */
const MAX_ZONE = 65535;
const DEFAULT_PRIORITY = 10000;

interface Line {
  raw: RawValue;
  iface: string | null;
  address: string;
  via: string | null;
  pin: string | null;
}

/** `ADDRESS [as UNIQUE]` (server) or `IFACE ADDRESS [via GATEWAY] [as UNIQUE]` (map). */
function parseLine(c: Checker, key: 'server' | 'map', raw: RawValue): Line | null {
  const words = raw.value.split(/[\s,]+/).filter((w) => w !== '');
  const fail = (message: string) => {
    c.problems.push(new InputError(raw.origin, `${JSON.stringify(raw.value)}: ${message}`));
    return null;
  };
  const iface = key === 'map' ? (words.shift() ?? '') : null;
  if (iface !== null && ifnameProblem(iface)) return fail(`interface ${JSON.stringify(iface)} ${ifnameProblem(iface)}`);
  const address = parseAddress(words.shift() ?? '', 4)?.address;
  if (!address) return fail(`expected ${key === 'map' ? 'IFACE ADDRESS [via GATEWAY] [as UNIQUE]' : 'ADDRESS [as UNIQUE]'} with IPv4 addresses`);
  let via: string | null = null;
  let pin: string | null = null;
  while (words.length > 0) {
    const word = words.shift()!;
    const value = parseAddress(words.shift() ?? '', 4)?.address ?? null;
    if (word === 'via' && key === 'map' && via === null) {
      if (value === null) return fail('via needs an IPv4 address (the next hop towards the VM)');
      const problem = gatewayProblem(value, address);
      if (problem) return fail(`via ${value} ${problem}`);
      via = value;
    } else if (word === 'as' && pin === null) {
      if (value === null) return fail('as needs an IPv4 address of the block');
      pin = value;
    } else return fail(`unexpected ${JSON.stringify(word)} (expected ${key === 'map' ? '"via GATEWAY" or ' : ''}"as UNIQUE")`);
  }
  return { raw, iface, address, via, pin };
}

/**
 * Why a next hop can never carry the VM's traffic, or null. A gateway is a unicast neighbour on the
 * customer link (RFC 1812 5.2.4.3 rules out the others as next hops); the VM itself is no gateway.
 */
function gatewayProblem(via: string, address: string): string | null {
  if (via === address) return 'is the VM itself: a next hop must be the router in front of it';
  const range = ipaddr.IPv4.parse(via).range();
  const why: Record<string, string> = {
    unspecified: 'is the unspecified address',
    broadcast: 'is the limited broadcast address',
    multicast: 'is a multicast address',
    loopback: 'is a loopback address: it never leaves this node',
  };
  return why[range] ? `${why[range]}, not a router on the customer link` : null;
}

/** "10.0.0.1/24": an address of the node with the length of its subnet (host bits set, unlike a prefix). */
function parseInterfaceAddress(text: string): string | null {
  const m = /^([^/]+)\/([0-9]{1,2})$/.exec(text);
  const address = m ? parseAddress(m[1]!, 4)?.address : undefined;
  const length = m ? Number(m[2]) : NaN;
  return address && length >= 1 && length <= 32 ? `${address}/${length}` : null;
}

const lineOf = (v: RawValue): string => formatOrigin(v.origin).split(': ')[0]!;
const numeric = (a: string): number => a.split('.').reduce((n, b) => n * 256 + Number(b), 0);

function verifyOne(raw: RawNetwork, context: FeatureContext): { record: NatPairRecord | null; problems: InputError[] } {
  const c = new Checker(raw);
  const nameProblem = networkNameProblem(raw.name);
  if (nameProblem) c.problems.push(new InputError(raw.origin, `natpair name ${JSON.stringify(raw.name)} ${nameProblem}`));

  const roleText = c.required('role', `(${NATPAIR_ROLES.join(' or ')}: which node of the pair this is)`);
  const role = NATPAIR_ROLES.find((r) => r === roleText) ?? null;
  if (roleText !== null && role === null) c.fail('role', `${JSON.stringify(roleText)} is not one of ${NATPAIR_ROLES.join(', ')}`);

  let block: Prefix | null = null;
  if (c.required('block', '(the pair\'s unique addresses, a block of 198.18.0.0/15 such as 198.18.0.0/24)') !== null) {
    block = c.prefix('block', 4);
    const problem = block && blockProblem(block);
    if (block && problem) {
      c.fail('block', `${block.cidr} ${problem}`);
      block = null;
    }
  }

  const transit: string[] = [];
  const transitText = c.required('transit', '(the interfaces in the block; interface k carries the k-th /27 of this node)');
  for (const name of transitText?.split(/[\s,]+/).filter((w) => w !== '') ?? []) {
    const problem = ifnameProblem(name);
    if (problem) c.fail('transit', `${JSON.stringify(name)} ${problem}`);
    else if (transit.includes(name)) c.fail('transit', `${name} is listed twice`);
    else transit.push(name);
  }
  if (block && transit.length > pairsInBlock(block)) c.fail('transit', `${transit.length} interfaces, but ${block.cidr} has room for ${pairsInBlock(block)} /27 per node`);

  const inside = role === 'management' ? (c.required('inside', 'for role management (the interface towards the management servers)') === null ? null : c.ifname('inside')) : null;
  if (role === 'customer' && c.has('inside')) c.fail('inside', 'applies to role management only (the customer node reaches customers through the interfaces of the map lines)');
  if (inside !== null && transit.includes(inside)) c.fail('inside', `${inside} is also a transit interface`);
  const insideAddress = c.typed('inside_address', parseInterfaceAddress, 'is not an IPv4 address with its prefix length (ADDRESS/LENGTH, e.g. 10.0.0.1/24)');
  if (role === 'customer' && c.has('inside_address')) c.fail('inside_address', 'applies to role management only');
  if (insideAddress && block && contains(block, insideAddress.split('/')[0]!)) c.fail('inside_address', `${insideAddress} is inside the block ${block.cidr}`);
  const priority = c.has('priority') ? c.typed('priority', (t) => parseUint(t, 1, 32765), 'is not a rule priority that sorts before main (1-32765)') : DEFAULT_PRIORITY;
  if (role === 'management' && c.has('table')) c.fail('table', 'applies to role customer only (the management node has one inside interface and needs no tables)');

  // the lines
  const lines: Line[] = [];
  for (const key of ['server', 'map'] as const) {
    for (const v of raw.repeated?.get(key) ?? []) {
      const line = parseLine(c, key, v);
      if (line) lines.push(line);
    }
  }
  if (!c.has('server') && !c.has('map')) c.fail('map', 'or server is required: a pair with no entries joins nothing');
  const seen = new Map<string, Line>();
  for (const l of lines) {
    const where = (message: string) => c.problems.push(new InputError(l.raw.origin, `${JSON.stringify(l.raw.value)}: ${message}`));
    const id = `${l.iface ?? ''} ${l.address}`;
    const earlier = seen.get(id);
    if (earlier) where(`${l.iface ? `${l.address} on ${l.iface}` : `server ${l.address}`} is already listed on line ${earlier.raw.origin.line}`);
    seen.set(id, l);
    if (block && contains(block, l.address)) where(`${l.address} is inside the block ${block.cidr}: the block holds the unique addresses only`);
    if (block && l.via && contains(block, l.via)) where(`via ${l.via} is inside the block ${block.cidr}`);
    if (l.iface !== null && (l.iface === inside || transit.includes(l.iface))) where(`${l.iface} is ${l.iface === inside ? 'the inside' : 'a transit'} interface, not a customer's`);
  }

  // tables of the customer interfaces (customer role): table, table+1, … in name order
  const ifaces = [...new Set(lines.flatMap((l) => (l.iface ? [l.iface] : [])))].sort();
  let customers: NatCustomer[] = [];
  if (role === 'customer' && ifaces.length > 0) {
    const base = c.has('table')
      ? c.typed('table', (t) => parseUint(t, 1, 0xffffffff - ifaces.length + 1), 'is not a usable routing table id (1-4294967295)')
      : (c.required('table', `for role customer (the first of ${ifaces.length} routing tables, one per customer interface: ${ifaces.join(', ')})`), null);
    if (base !== null) {
      customers = ifaces.map((iface, i) => ({ iface, table: base + i, mark: base + i, zone: base + i }));
      if (base + ifaces.length - 1 > MAX_ZONE) c.fail('table', `${base}-${base + ifaces.length - 1} (one table per customer interface) is above ${MAX_ZONE}: each id is also the conntrack zone of its customer interface, and zones are 16 bits`);
      const reserved = customers.find((x) => RESERVED_TABLES.includes(x.table));
      if (reserved) c.fail('table', `${base}-${base + ifaces.length - 1} (one table per customer interface) includes ${reserved.table}, reserved by the kernel (253 default, 254 main, 255 local)`);
      for (const n of networksIn(context.records)) {
        const clash = customers.find((x) => x.table === n.table || x.mark === n.mark);
        if (clash) c.fail('table', `table/mark ${clash.table} (customer interface ${clash.iface}) is already used by [network ${n.name}] (${formatOrigin(n.origin).split(': ')[0]})`);
      }
    }
  }

  // the plan: pinned entries on their slots, the others in sorted order (servers, then VMs by interface and address)
  const entries: NatPairEntry[] = [];
  if (block && transit.length > 0 && c.problems.length === 0) {
    const order = [...lines].sort((a, b) => (a.iface === null ? 0 : 1) - (b.iface === null ? 0 : 1) || (a.iface ?? '').localeCompare(b.iface ?? '') || numeric(a.address) - numeric(b.address));
    const placed = allocate(block, transit.length, order.map((l): Want => ({ pin: l.pin })));
    placed.forEach((p, i) => {
      const l = order[i]!;
      if ('error' in p) {
        const clash = p.clash === undefined ? '' : ` on line ${order[p.clash]!.raw.origin.line}`;
        c.problems.push(new InputError(l.raw.origin, `${JSON.stringify(l.raw.value)}: ${p.error}${clash}`));
        return;
      }
      entries.push({
        kind: l.iface === null ? 'server' : 'vm',
        iface: l.iface,
        address: l.address,
        via: l.via,
        pinned: l.pin !== null,
        pair: p.slot.pair,
        customer: addressOf(block!, 'customer', p.slot),
        management: addressOf(block!, 'management', p.slot),
        at: lineOf(l.raw),
      });
    });
  }

  const record: NatPairRecord | null =
    c.problems.length > 0 || role === null || block === null
      ? null
      : { name: raw.name, role, block: block.cidr, transit, inside, insideAddress: role === 'management' ? insideAddress : null, priority: priority ?? DEFAULT_PRIORITY, customers, entries };
  return { record, problems: c.problems };
}

export function verifyNatPairs(sections: readonly RawNetwork[], context: FeatureContext): NatPairRecord[] {
  const problems: InputError[] = [];
  const records: NatPairRecord[] = [];
  for (const raw of sections) {
    const r = verifyOne(raw, context);
    problems.push(...r.problems);
    if (r.record) records.push(r.record);
  }
  // two pairs on one node must not share interfaces, tables or unique addresses
  records.forEach((r, i) => {
    for (const earlier of records.slice(0, i)) {
      const origin = sections.find((s) => s.name === r.name)!.origin;
      const shared = [...r.transit, ...r.customers.map((x) => x.iface), ...(r.inside ? [r.inside] : [])].filter((x) => [...earlier.transit, ...earlier.customers.map((y) => y.iface), ...(earlier.inside ? [earlier.inside] : [])].includes(x));
      if (shared.length > 0) problems.push(new InputError(origin, `interface ${shared.join(', ')} is also used by [natpair ${earlier.name}]`));
      const a = parsePrefix(r.block, 4) as Prefix;
      const b = parsePrefix(earlier.block, 4) as Prefix;
      if (contains(a, b.address) || contains(b, a.address)) problems.push(new InputError({ ...origin, key: 'block' }, `${r.block} overlaps ${earlier.block} of [natpair ${earlier.name}]`));
      const tables = r.customers.filter((x) => earlier.customers.some((y) => y.table === x.table));
      if (tables.length > 0) problems.push(new InputError({ ...origin, key: 'table' }, `table ${tables[0]!.table} is also used by [natpair ${earlier.name}]`));
    }
  });
  if (problems.length > 0) throw new InvalidInput(problems);
  return records;
}
