/**
 * The responder's configuration: the [ndp] and [dhcp] sections of vmrouter.conf, typed, with the
 * defaults of RFC 4861 §6.2.1 and RFC 8106 filled in once here.
 */
import { parseBool, parseUint } from '../model/names.js';
import { Checker } from '../model/verify.js';
import { InputError, InvalidInput } from '../config/errors.js';
import type { IniSections } from '../config/ini.js';
import type { RawNetwork } from '../config/raw.js';

export interface NdpConfig {
  enabled: boolean;
  routerLifetime: number;
  maxInterval: number;
  minInterval: number;
  /** ms */
  solicitedRaDelay: number;
  curHopLimit: number;
  mtu: number | null;
  nameservers: string[];
  domains: string[];
  dnsLifetime: number;
  prefixValidLifetime: number;
  prefixPreferredLifetime: number;
  dhcpv6: boolean;
}

export interface DhcpConfig {
  enabled: boolean;
  nameservers: string[];
  domain: string | null;
  leaseTime: number;
  mtu: number | null;
}

export interface ResponderConfig {
  ndp: NdpConfig;
  dhcp: DhcpConfig;
}

const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
/** A DNS name as DHCP and DNSSL carry it: labels of 1-63 letters, digits and '-', 253 bytes in all. */
export function domainProblem(name: string): string | null {
  const n = name.replace(/\.$/, '');
  if (n.length === 0 || n.length > 253) return 'is not a domain name (1-253 characters)';
  return n.split('.').every((l) => LABEL.test(l)) ? null : 'is not a domain name (labels of letters, digits and "-", at most 63 each)';
}

const list = (text: string): string[] => text.split(/[\s,]+/).filter(Boolean);

function ndpConfig(raw: RawNetwork | undefined, problems: InputError[]): NdpConfig {
  const c = new Checker(raw ?? { name: 'ndp', origin: { file: '', section: '[ndp]' }, values: new Map() });
  const num = (key: string, min: number, max: number, fallback: number) => (c.has(key) ? c.typed(key, (t) => parseUint(t, min, max), `is not a number from ${min} to ${max}`) ?? fallback : fallback);
  const bool = (key: string, fallback: boolean) => (c.has(key) ? c.typed(key, parseBool, 'is not a boolean (yes/no)') ?? fallback : fallback);
  const maxInterval = num('max_interval', 4, 1800, 600);
  const minInterval = num('min_interval', 3, Math.floor(0.75 * maxInterval), Math.max(3, Math.floor(0.33 * maxInterval)));
  const domains = c.has('domains') ? list(c.value('domains')!.value) : [];
  for (const d of domains) {
    const p = domainProblem(d);
    if (p) c.fail('domains', `${JSON.stringify(d)} ${p}`);
  }
  const config: NdpConfig = {
    enabled: bool('enabled', true),
    routerLifetime: num('router_lifetime', 0, 9000, 1800),
    maxInterval,
    minInterval,
    solicitedRaDelay: num('solicited_ra_delay', 0, 500, 500),
    curHopLimit: num('cur_hop_limit', 0, 255, 64),
    mtu: c.has('mtu') ? c.typed('mtu', (t) => parseUint(t, 1280, 65535), 'is not an IPv6 MTU (1280-65535)') : null,
    nameservers: c.addresses('nameservers', 6),
    domains,
    dnsLifetime: num('dns_lifetime', 0, 0xffffffff, 3 * maxInterval),
    prefixValidLifetime: num('prefix_valid_lifetime', 0, 0xffffffff, 2592000),
    prefixPreferredLifetime: num('prefix_preferred_lifetime', 0, 0xffffffff, 604800),
    dhcpv6: bool('dhcpv6', true),
  };
  if (config.prefixPreferredLifetime > config.prefixValidLifetime) c.fail('prefix_preferred_lifetime', 'must not exceed prefix_valid_lifetime');
  // RFC 4861 6.2.1: 0, or at least MaxRtrAdvInterval (else the default route expires between two RAs)
  if (config.routerLifetime !== 0 && config.routerLifetime < maxInterval) c.fail('router_lifetime', `must be 0 or at least max_interval (${maxInterval} s), RFC 4861 6.2.1`);
  problems.push(...c.problems);
  return config;
}

function dhcpConfig(raw: RawNetwork | undefined, problems: InputError[]): DhcpConfig {
  const c = new Checker(raw ?? { name: 'dhcp', origin: { file: '', section: '[dhcp]' }, values: new Map() });
  const nameservers = c.addresses('nameservers', 4);
  const domain = c.value('domain')?.value ?? null;
  if (domain !== null && domainProblem(domain)) c.fail('domain', `${JSON.stringify(domain)} ${domainProblem(domain)}`);
  const config: DhcpConfig = {
    enabled: c.has('enabled') ? c.typed('enabled', parseBool, 'is not a boolean (yes/no)') ?? true : true,
    nameservers,
    domain,
    leaseTime: c.has('lease_time') ? c.typed('lease_time', (t) => parseUint(t, 60, 0xfffffffe), 'is not a lease time (60 s or more)') ?? 86400 : 86400,
    mtu: c.has('mtu') ? c.typed('mtu', (t) => parseUint(t, 576, 65535), 'is not an IPv4 MTU (576-65535)') : null,
  };
  problems.push(...c.problems);
  return config;
}

export function verifyResponder(sections: Pick<IniSections, 'globals'>): ResponderConfig {
  const problems: InputError[] = [];
  const config = { ndp: ndpConfig(sections.globals.get('ndp'), problems), dhcp: dhcpConfig(sections.globals.get('dhcp'), problems) };
  if (problems.length > 0) throw new InvalidInput(problems);
  return config;
}
