/**
 * verify: raw sections → typed Network model, or every problem found at once. Pure.
 */
import { contains, overlaps, parseAddress, parsePrefix, reservedAddresses, type Family, type Prefix } from './addr.js';
import { ifnameProblem, networkNameProblem, parseBool, parseMac, parseUint, tableNameProblem } from './names.js';
import { announces, hostsVms, type Bgp, type Network } from './network.js';
import { InputError, InvalidInput, formatOrigin, type Origin } from '../config/errors.js';
import type { RawNetwork, RawValue } from '../config/raw.js';
import { ROLES, type Role } from '../config/schema.js';
import { keySpec } from '../features/network-keys.js';

/** Tables the kernel reserves: 0 unspec, 253 default, 254 main, 255 local. */
const RESERVED_TABLES = new Set([0, 253, 254, 255]);
const DEFAULT_PRIORITY = 10000;

/** Typed reads of one raw section, collecting every problem with its file, line and key. */
export class Checker {
  readonly problems: InputError[] = [];
  constructor(readonly raw: RawNetwork) {}

  private origin(key: string): Origin {
    return this.raw.values.get(key)?.origin ?? { ...this.raw.origin, key };
  }
  fail(key: string, message: string): void {
    this.problems.push(new InputError(this.origin(key), message));
  }
  value(key: string): RawValue | undefined {
    return this.raw.values.get(key);
  }
  has(key: string): boolean {
    return this.raw.values.has(key);
  }
  required(key: string, why: string): string | null {
    const v = this.value(key);
    if (!v || v.value === '') {
      this.fail(key, `is required ${why}`);
      return null;
    }
    return v.value;
  }
  typed<T>(key: string, parse: (text: string) => T | null, expectation: string): T | null {
    const v = this.value(key);
    if (!v) return null;
    const parsed = parse(v.value);
    if (parsed === null) this.fail(key, `${JSON.stringify(v.value)} ${expectation}`);
    return parsed;
  }
  ifname(key: string): string | null {
    const v = this.value(key);
    if (!v) return null;
    const problem = ifnameProblem(v.value);
    if (problem) {
      this.fail(key, `${JSON.stringify(v.value)} ${problem}`);
      return null;
    }
    return v.value;
  }
  prefix(key: string, family: Family): Prefix | null {
    const v = this.value(key);
    if (!v) return null;
    const parsed = parsePrefix(v.value, family);
    if (parsed && 'error' in parsed) {
      this.fail(key, `${v.value} ${parsed.error}`);
      return null;
    }
    if (!parsed) this.fail(key, `${JSON.stringify(v.value)} is not an IPv${family} prefix (ADDRESS/LENGTH)`);
    else if (parsed.length === (family === 4 ? 32 : 128)) {
      this.fail(key, `${v.value} is a single address; give the subnet of the VMs`);
      return null;
    }
    return parsed;
  }
  /** a list of addresses of one family (spaces or commas between them), each once; [] when unset */
  addresses(key: string, family: Family): string[] {
    const v = this.value(key);
    if (!v) return [];
    const out: string[] = [];
    for (const word of v.value.split(/[\s,]+/).filter(Boolean)) {
      const a = parseAddress(word, family);
      if (!a) this.fail(key, `${JSON.stringify(word)} is not an IPv${family} address`);
      else if (out.includes(a.address)) this.fail(key, `${a.address} is listed twice`);
      else out.push(a.address);
    }
    return out;
  }
  /** a BGP AS number, 64512 (the first private one, RFC 6996) when unset */
  asn(key = 'asn'): number | null {
    return this.has(key) ? this.typed(key, (t) => parseUint(t, 1, 0xffffffff), 'is not an AS number (1-4294967295)') : 64512;
  }
  /** a BGP hold time, 9 s when unset */
  bgpHold(key = 'bgp_hold'): number | null {
    return this.has(key) ? this.typed(key, (t) => parseUint(t, 3, 65535), 'is not a BGP hold time (3-65535 s; RFC 4271 forbids 1 and 2)') : 9;
  }
  hostIn(key: string, family: Family, subnet: Prefix | null): string | null {
    const v = this.value(key);
    if (!v) return null;
    const parsed = parseAddress(v.value, family);
    if (!parsed) {
      this.fail(key, `${JSON.stringify(v.value)} is not an IPv${family} address`);
      return null;
    }
    if (subnet) {
      if (!contains(subnet, parsed.address)) this.fail(key, `${parsed.address} is outside ${subnet.cidr}`);
      else if (reservedAddresses(subnet).includes(parsed.address)) this.fail(key, `${parsed.address} is the ${parsed.address === subnet.address ? 'network' : 'broadcast'} address of ${subnet.cidr}`);
    }
    return parsed.address;
  }
}

/**
 * A key of another role is ignored with a warning, not refused: the same section is copied between
 * a router and its VMC nodes with only `role` changed (vmrouter.conf(5)).
 */
function withoutOtherRoles(raw: RawNetwork, warnings: InputError[]): RawNetwork {
  const role = raw.values.get('role')?.value;
  if (!role || !(ROLES as readonly string[]).includes(role)) return raw;
  const values = new Map(raw.values);
  for (const [key, v] of raw.values) {
    const spec = keySpec(key);
    if (!spec?.roles || spec.roles.includes(role as Role)) continue;
    warnings.push(new InputError(v.origin, `ignored: applies to role${spec.roles.length > 1 ? 's' : ''} ${spec.roles.join(' and ')}, not ${role}`));
    values.delete(key);
  }
  return values.size === raw.values.size ? raw : { ...raw, values };
}

function verifyOne(section: RawNetwork, warnings: InputError[]): { network: Network | null; problems: InputError[] } {
  const raw = withoutOtherRoles(section, warnings);
  const c = new Checker(raw);
  const nameProblem = networkNameProblem(raw.name);
  if (nameProblem) c.problems.push(new InputError(raw.origin, `network name ${JSON.stringify(raw.name)} ${nameProblem}`));

  const roleText = c.required('role', `(one of ${ROLES.join(', ')})`);
  const role = roleText === null ? null : (ROLES as readonly string[]).includes(roleText) ? (roleText as Role) : null;
  if (roleText !== null && role === null) c.fail('role', `${JSON.stringify(roleText)} is not one of ${ROLES.join(', ')}`);
  const vmc = role === 'vmc' || role === 'vmc+router';
  const router = role === 'router' || role === 'vmc+router';

  const uplink = c.required('uplink', '(the interface that joins the nodes and the router)') === null ? null : c.ifname('uplink');

  const table = vmc
    ? c.has('table')
      ? c.typed('table', (t) => { const n = parseUint(t, 1, 0xffffffff); return n !== null && !RESERVED_TABLES.has(n) ? n : null; }, 'is not a usable routing table id (1-4294967295; 253, 254 and 255 are the kernel\'s default, main and local)')
      : (c.required('table', `for role ${role} (the routing table of the VM routes)`), null)
    : null;
  const tableName = c.value('table_name') ? c.value('table_name')!.value : null;
  if (tableName !== null) {
    const p = tableNameProblem(tableName);
    if (p) c.fail('table_name', `${JSON.stringify(tableName)} ${p}`);
  }
  const mark = vmc ? (c.has('mark') ? c.typed('mark', (t) => parseUint(t, 1, 0xffffffff), 'is not a firewall mark (1-4294967295)') : table) : null;
  const priority = c.has('priority') ? c.typed('priority', (t) => parseUint(t, 1, 32765), 'is not a rule priority that sorts before main (1-32765)') : DEFAULT_PRIORITY;

  const subnet = c.prefix('subnet', 4);
  const subnet6 = c.prefix('subnet6', 6);
  if (!c.has('subnet') && !c.has('subnet6')) c.fail('subnet', 'or subnet6 is required (a network needs at least one address family)');
  for (const [pfx, gw] of [['subnet', 'gateway'], ['subnet6', 'gateway6']] as const) {
    if (c.has(pfx) && !c.has(gw)) c.fail(gw, `is required when ${pfx} is set`);
    if (!c.has(pfx) && c.has(gw)) c.fail(gw, `needs ${pfx}`);
  }
  const gateway = c.hostIn('gateway', 4, subnet);
  const gateway6 = c.hostIn('gateway6', 6, subnet6);
  const arpIp = c.hostIn('arp_ip', 4, subnet);
  if (c.has('arp_ip') && !c.has('subnet')) c.fail('arp_ip', 'needs subnet');
  const bgp = verifyBgp(c, role, warnings);
  if (role === 'vmc' && c.value('routing')?.value !== 'bgp' && c.has('subnet') && !c.has('arp_ip')) {
    c.fail('arp_ip', 'is required for role vmc with an IPv4 subnet: the node has no address there, and the router will not answer ARP from a foreign source');
  }
  if (arpIp !== null && arpIp === gateway) c.fail('arp_ip', `must differ from gateway ${gateway}`);

  const natOut = c.ifname('nat_out');
  if (natOut !== null && !c.has('subnet')) c.fail('nat_out', 'needs an IPv4 subnet to masquerade');
  const upstream = c.ifname('upstream') ?? natOut;
  for (const key of ['nat_out', 'upstream'] as const) {
    if (c.value(key)?.value === uplink && uplink !== null) c.fail(key, `must differ from uplink ${uplink}`);
  }
  const bool = (key: string, fallback: boolean) => (c.has(key) ? c.typed(key, parseBool, 'is not a boolean (yes/no)') ?? fallback : fallback);
  const forwarding = bool('forwarding', true);
  const forwardingAll = bool('forwarding_all', false);
  const proxyArp = bool('proxy_arp', true);
  const proxyNdp = bool('proxy_ndp', true);
  const tapMac = c.typed('tap_mac', parseMac, 'is not a unicast MAC address (xx:xx:xx:xx:xx:xx)');
  const proxyDelay = c.has('proxy_delay') ? c.typed('proxy_delay', (t) => parseUint(t, 0, 6000), 'is not a delay in 1/100 s (0-6000)') : 0;

  const network: Network | null =
    c.problems.length > 0 || role === null || uplink === null
      ? null
      : {
          name: raw.name,
          role,
          uplink,
          table,
          tableName,
          mark,
          priority: priority ?? DEFAULT_PRIORITY,
          v4: subnet && gateway ? { subnet, gateway, arpIp } : null,
          v6: subnet6 && gateway6 ? { subnet: subnet6, gateway: gateway6 } : null,
          natOut: router ? natOut : null,
          upstream: router ? upstream : null,
          forwarding,
          forwardingAll,
          // with BGP the routers learn the VMs from announcements: proxying stays on the TAPs
          proxyArp: vmc && proxyArp && !bgp,
          proxyNdp: vmc && proxyNdp && !bgp,
          proxyDelay: proxyDelay ?? 0,
          tapMac,
          ...(bgp ? { bgp } : {}),
          origin: raw.origin,
        };
  return { network, problems: c.problems };
}

const BGP_KEYS = ['peers', 'peers6', 'asn', 'bgp_hold', 'bfd', 'bfd_interval', 'router_id'] as const;

/** routing = bgp and its keys; null for proxy (the default). */
function verifyBgp(c: Checker, role: Role | null, warnings: InputError[]): Bgp | null {
  const routing = c.value('routing')?.value ?? 'proxy';
  if (routing !== 'proxy' && routing !== 'bgp') {
    c.fail('routing', `${JSON.stringify(routing)} is not proxy or bgp`);
    return null;
  }
  if (routing === 'proxy') {
    for (const key of BGP_KEYS) if (c.has(key)) c.fail(key, 'applies only to routing = bgp');
    return null;
  }
  for (const key of ['proxy_arp', 'proxy_ndp'] as const) {
    if (c.has(key) && role === 'vmc') warnings.push(new InputError(c.value(key)!.origin, 'ignored: with routing = bgp the routers learn the VMs over BGP, the uplink proxies nothing (the TAPs still answer their VM)'));
  }
  const peers = c.addresses('peers', 4);
  const peers6 = c.addresses('peers6', 6);
  if (c.has('subnet') && peers.length === 0) c.fail('peers', `is required with routing = bgp and subnet (${role === 'router' ? 'the VMC nodes' : 'the routers'} to announce the /32 routes to)`);
  if (c.has('subnet6') && peers6.length === 0) c.fail('peers6', `is required with routing = bgp and subnet6 (${role === 'router' ? 'the VMC nodes' : 'the routers'} to announce the /128 routes to, over IPv6)`);
  if (!c.has('subnet') && peers.length > 0) c.fail('peers', 'needs subnet (IPv4 sessions carry the /32 routes)');
  if (!c.has('subnet6') && peers6.length > 0) c.fail('peers6', 'needs subnet6 (IPv6 sessions carry the /128 routes)');
  const asn = c.asn();
  const hold = c.bgpHold();
  const bfd = c.has('bfd') ? c.typed('bfd', parseBool, 'is not a boolean (yes/no)') : true;
  const interval = c.has('bfd_interval') ? c.typed('bfd_interval', (t) => parseUint(t, 10, 60000), 'is not a BFD interval (10-60000 ms)') : 100;
  if (c.has('bfd_interval') && bfd === false) c.fail('bfd_interval', 'needs bfd = yes');
  const routerId = c.has('router_id') ? c.typed('router_id', (t) => parseAddress(t, 4)?.address ?? null, 'is not an IPv4 address (a BGP router id)') : null;
  if (asn === null || hold === null || interval === null) return null;
  return { asn, peers, peers6, hold, bfdInterval: bfd === false ? null : interval, routerId };
}

/** Checks that only make sense across networks: clashing tables and marks, overlapping subnets. */
function crossCheck(networks: Network[], raws: Map<string, RawNetwork>): InputError[] {
  const problems: InputError[] = [];
  const at = (n: Network, key: string): Origin => raws.get(n.name)?.values.get(key)?.origin ?? { ...n.origin, key };
  networks.forEach((n, i) => {
    for (const earlier of networks.slice(0, i)) {
      const where = `[network ${earlier.name}] (${formatOrigin(earlier.origin).split(': ')[0]})`;
      if (n.table !== null && n.table === earlier.table) problems.push(new InputError(at(n, 'table'), `table ${n.table} is already used by ${where}`));
      else if (n.mark !== null && n.mark === earlier.mark) problems.push(new InputError(at(n, 'mark'), `mark ${n.mark} is already used by ${where}`));
      if (n.v4 && earlier.v4 && overlaps(n.v4.subnet, earlier.v4.subnet)) problems.push(new InputError(at(n, 'subnet'), `${n.v4.subnet.cidr} overlaps ${earlier.v4.subnet.cidr} of ${where}`));
      if (n.v6 && earlier.v6 && overlaps(n.v6.subnet, earlier.v6.subnet)) problems.push(new InputError(at(n, 'subnet6'), `${n.v6.subnet.cidr} overlaps ${earlier.v6.subnet.cidr} of ${where}`));
      // routing = bgp: one FRR per node renders every such network (render/frr-network.ts)
      if (announces(n) && announces(earlier)) {
        if (n.bgp.asn !== earlier.bgp.asn) problems.push(new InputError(at(n, 'asn'), `${n.bgp.asn} differs from ${earlier.bgp.asn} of ${where}: one FRR per node speaks for one AS`));
        if (hostsVms(n) !== hostsVms(earlier)) problems.push(new InputError(at(n, 'role'), `${n.role} with routing = bgp beside role ${earlier.role} of ${where}: one FRR per node speaks for the VMC nodes or for the routers, not both`));
      }
      if (n.uplink === earlier.uplink && n.v4?.arpIp && earlier.v4?.arpIp && n.v4.arpIp !== earlier.v4.arpIp) {
        problems.push(new InputError(at(n, 'arp_ip'), `uplink ${n.uplink} already has arp_ip ${earlier.v4.arpIp} from ${where}; an uplink has one ARP source`));
      }
    }
  });
  return problems;
}

/** `warnings`: where keys that do not apply to a network's role are noted (they are ignored). */
export function verifyNetworks(raws: RawNetwork[], warnings: InputError[] = []): Network[] {
  const problems: InputError[] = [];
  const networks: Network[] = [];
  for (const raw of raws) {
    const result = verifyOne(raw, warnings);
    problems.push(...result.problems);
    if (result.network) networks.push(result.network);
  }
  if (problems.length === 0) problems.push(...crossCheck(networks, new Map(raws.map((r) => [r.name, r]))));
  if (problems.length > 0) throw new InvalidInput(problems);
  return networks;
}
