/**
 * What a libvirt domain says about its routed NICs, read from the domain XML libvirt gives its qemu
 * hook on stdin (https://libvirt.org/hooks.html#etc-libvirt-hooks-qemu). Pure.
 *
 * The NIC itself is libvirt's: `<interface type='ethernet'>` with its `<mac address>` and, once the
 * domain runs, `<target dev>` (the TAP; vnetN when the domain names none). What libvirt does not model
 * (the network and the addresses: libvirt's QEMU driver refuses `<ip>` inside an ethernet
 * `<interface>`) lives in the domain's metadata, in vmrouter's namespace, keyed by MAC:
 *
 *   <metadata>
 *     <vmrouter:nics xmlns:vmrouter="https://vmrouter.example/xmlns/1">
 *       <vmrouter:nic mac="52:54:00:00:00:11" network="public">
 *         <vmrouter:ip address="192.0.2.11"/>
 *       </vmrouter:nic>
 *     </vmrouter:nics>
 *   </metadata>
 *
 * libvirt keeps one element per namespace (a second is dropped) and may change the prefix
 * (`virsh metadata --set --key`), so the element is found by its namespace URI, never by prefix.
 */
import { XMLParser } from 'fast-xml-parser';
import { UsageError } from '../config/errors.js';
import { ifnameProblem, networkNameProblem, parseMac } from './names.js';
import { parseAddress } from './addr.js';
import type { TapRequest } from './tap-request.js';
import { domainProblem } from '../ndp/config.js';

export const VMROUTER_XMLNS = 'https://vmrouter.example/xmlns/1';

export interface DomainNic {
  mac: string;
  network: string;
  ips: string[];
  ip6s: string[];
  /** the TAP from `<target dev>`; null before libvirt has made it (an inactive domain without one) */
  tap: string | null;
}

export interface DomainNics {
  domain: string;
  nics: DomainNic[];
}

type XmlNode = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  // every element a list, so that one NIC and several read the same
  isArray: (_name, _path, _leaf, isAttribute) => !isAttribute,
  parseAttributeValue: false,
  parseTagValue: false,
  processEntities: true,
});

const children = (node: XmlNode | undefined, name: string): XmlNode[] => (node?.[name] as XmlNode[] | undefined) ?? [];
const attr = (node: XmlNode | undefined, name: string): string | undefined => {
  const v = node?.[`@${name}`];
  return typeof v === 'string' ? v : undefined;
};

/** The prefix ('' for a default namespace) under which `element` declares vmrouter's namespace, or null. */
function vmrouterPrefix(element: XmlNode): string | null {
  for (const [key, value] of Object.entries(element)) {
    if (value !== VMROUTER_XMLNS) continue;
    if (key === '@xmlns') return '';
    if (key.startsWith('@xmlns:')) return key.slice('@xmlns:'.length);
  }
  return null;
}

/** Parses the domain XML; `where` names the input in messages (e.g. "domain XML on stdin"). */
export function domainNics(xml: string, where: string): DomainNics {
  // libvirt never writes a DTD; one in the input could only declare entities to expand (the
  // "billion laughs"): refused before parsing
  if (/<!(DOCTYPE|ENTITY)/i.test(xml)) throw new UsageError(`${where}: a DOCTYPE or ENTITY declaration: not libvirt's domain XML`);
  let doc: XmlNode;
  try {
    doc = parser.parse(xml, true) as XmlNode;
  } catch (e) {
    throw new UsageError(`${where}: not XML: ${(e as Error).message.split('\n')[0]}`);
  }
  const domain = children(doc, 'domain')[0];
  if (!domain) throw new UsageError(`${where}: no <domain> element`);
  const nameNode = (domain.name as unknown[] | undefined)?.[0];
  const name = (typeof nameNode === 'string' ? nameNode : '').trim();
  const label = `${where}: domain ${name || '(unnamed)'}`;
  // the NICs libvirt knows, by MAC
  const interfaces = new Map<string, { type: string; tap: string | null }>();
  for (const i of children(children(domain, 'devices')[0], 'interface')) {
    const mac = parseMac(attr(children(i, 'mac')[0], 'address') ?? '');
    if (mac) interfaces.set(mac, { type: attr(i, 'type') ?? '', tap: attr(children(i, 'target')[0], 'dev') ?? null });
  }
  const nics: DomainNic[] = [];
  for (const metadata of children(domain, 'metadata')) {
    for (const [key, list] of Object.entries(metadata)) {
      if (key.startsWith('@') || !Array.isArray(list)) continue;
      for (const element of list as XmlNode[]) {
        const prefix = vmrouterPrefix(element);
        if (prefix === null) continue;
        const q = (local: string) => (prefix ? `${prefix}:${local}` : local);
        // an element that declares the namespace without being in it is not ours
        const inNamespace = prefix ? key.startsWith(`${prefix}:`) : !key.includes(':');
        if (!inNamespace) continue;
        if (key !== q('nics')) throw new UsageError(`${label}: metadata <${key}> in ${VMROUTER_XMLNS}: expected <${q('nics')}>`);
        for (const nic of children(element, q('nic'))) nics.push(domainNic(nic, q, interfaces, label));
      }
    }
  }
  const seen = new Set<string>();
  for (const n of nics) {
    if (seen.has(n.mac)) throw new UsageError(`${label}: NIC ${n.mac} is listed twice in the vmrouter metadata`);
    seen.add(n.mac);
  }
  return { domain: name, nics };
}

function domainNic(nic: XmlNode, q: (local: string) => string, interfaces: Map<string, { type: string; tap: string | null }>, label: string): DomainNic {
  const rawMac = attr(nic, 'mac');
  const mac = parseMac(rawMac ?? '');
  if (!mac) throw new UsageError(`${label}: <${q('nic')} mac=${JSON.stringify(rawMac ?? '')}>: not a unicast MAC address`);
  const where = `${label}: NIC ${mac}`;
  const network = attr(nic, 'network') ?? '';
  const netProblem = networkNameProblem(network);
  if (netProblem) throw new UsageError(`${where}: network=${JSON.stringify(network)}: ${netProblem}`);
  const iface = interfaces.get(mac);
  if (!iface) throw new UsageError(`${where}: the domain has no <interface> with that MAC`);
  if (iface.type !== 'ethernet') throw new UsageError(`${where}: <interface type='${iface.type}'>: vmrouter routes type='ethernet' NICs (a TAP attached to nothing)`);
  if (iface.tap !== null) {
    const p = ifnameProblem(iface.tap);
    if (p) throw new UsageError(`${where}: <target dev=${JSON.stringify(iface.tap)}>: ${p}`);
  }
  const ips: string[] = [];
  const ip6s: string[] = [];
  for (const ip of children(nic, q('ip'))) {
    const raw = attr(ip, 'address') ?? '';
    const a = parseAddress(raw, raw.includes(':') ? 6 : 4);
    if (!a) throw new UsageError(`${where}: <${q('ip')} address=${JSON.stringify(raw)}>: not an IP address`);
    (raw.includes(':') ? ip6s : ips).push(a.address);
  }
  return { mac, network, ips, ip6s, tap: iface.tap };
}

/** The `tap up` request of a NIC of a running domain (its TAP known). */
export function domainTapRequest(d: DomainNics, nic: DomainNic): TapRequest {
  if (nic.tap === null) throw new UsageError(`domain ${d.domain}: NIC ${nic.mac}: no <target dev>: the domain is not running`);
  const where = `domain ${d.domain} NIC ${nic.mac}`;
  return {
    network: nic.network,
    link: null,
    tap: nic.tap,
    mac: nic.mac,
    ips: nic.ips,
    ip6s: nic.ip6s,
    // a libvirt name may be anything; only a valid host name goes to DHCP clients
    hostname: domainProblem(d.domain) ? null : d.domain,
    claims: [],
    labels: { tap: `${where}: <target dev>`, mac: `${where}: mac`, ip: `${where}: address`, ip6: `${where}: address`, network: `${where}: network` },
  };
}
