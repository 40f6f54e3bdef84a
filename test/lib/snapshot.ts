/**
 * Kernel state of a namespace as text, for "down returns exactly the state before up": policy rules,
 * every routing table, nexthop objects, proxy neighbours, the whole nft ruleset (iptables-nft and arptables-nft live
 * there too), addresses, link MACs and every IPv4/IPv6 conf and neigh sysctl.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { inNs } from './run.js';

export interface SnapshotOptions {
  /** devices re-created since the baseline (ifdown deletes VLAN devices): their MAC and link-local differ */
  recreated?: string[];
}

const SYSCTL_DIRS = ['/proc/sys/net/ipv4/conf', '/proc/sys/net/ipv6/conf', '/proc/sys/net/ipv4/neigh', '/proc/sys/net/ipv6/neigh'];
/** and the node-wide settings (ip_forward, fwmark_reflect, tcp_l3mdev_accept, …): the same files in every namespace */
const SYSCTL_FILES = ['/proc/sys/net/ipv4', '/proc/sys/net/ipv6'].flatMap((dir) => readdirSync(dir).map((f) => join(dir, f)).filter((f) => statSync(f).isFile()));

/**
 * Operational state the kernel derives by itself and that changes as links come up (carrier, IPv6
 * link-local addresses and their routes, DAD flags) is left out; so are counter values.
 */
const KERNEL_LINK_LOCAL = /(^|\s)(fe80[:/]|ff00::\/8|anycast fe80::)/;

export async function snapshot(ns: string, opts: SnapshotOptions = {}): Promise<string> {
  const sh = async (argv: string[]) => (await inNs(ns, argv)).stdout;
  const lines = (text: string) => text.split('\n');
  const sections: [string, string][] = [
    ['ip -4 rule', await sh(['ip', '-4', 'rule', 'show'])],
    ['ip -6 rule', await sh(['ip', '-6', 'rule', 'show'])],
    ['ip -4 route', await sh(['ip', '-4', 'route', 'show', 'table', 'all'])],
    ['ip -6 route', lines(await sh(['ip', '-6', 'route', 'show', 'table', 'all'])).filter((l) => !(KERNEL_LINK_LOCAL.test(l) && l.includes('proto kernel'))).map((l) => l.replace(/ linkdown/, '')).join('\n')],
    // nexthop objects (vnet's IPv6 ECMP default); FRR's zebra keeps its own, which are not ours
    ['ip nexthop', lines(await sh(['ip', 'nexthop', 'show'])).filter((l) => !l.includes('proto zebra')).join('\n')],
    ['ip neigh proxy', (await sh(['ip', 'neigh', 'show', 'proxy'])) + (await sh(['ip', '-6', 'neigh', 'show', 'proxy']))],
    ['nft', sortedElements((await sh(['nft', 'list', 'ruleset'])).replace(/counter packets \d+ bytes \d+/g, 'counter'))],
    ['addresses', lines(await sh(['ip', '-o', 'addr', 'show'])).map((l) => l.replace(/^\d+:\s*/, '').replace(/\\.*$/, '').replace(/ tentative/, '')).filter((l) => !/inet6 fe80:/.test(l)).join('\n')],
    ['links', lines(await sh(['ip', '-o', 'link', 'show'])).map(linkSummary).join('\n')],
    // one process for every file (grep prints "path:value"); unreadable ones (stable_secret) are skipped
    ['sysctl', lines((await inNs(ns, ['grep', '-rs', '^', ...SYSCTL_DIRS, ...SYSCTL_FILES], { ok: false })).stdout).sort().join('\n')],
  ];
  const recreated = opts.recreated ?? [];
  return sections
    .map(([title, text]) => `== ${title}\n${text.trim()}\n`)
    .join('')
    .split('\n')
    .map((l) => (recreated.some((d) => l.startsWith(`${d} `)) ? l.replace(/link\/ether \S+/, 'link/ether (re-created)') : l))
    .join('\n');
}

/** A set has no order: nft lists elements as they were added (re-adding one moves it last). */
function sortedElements(ruleset: string): string {
  return ruleset.replace(/elements = \{([^}]*)\}/g, (_m, items: string) => `elements = { ${items.split(',').map((x) => x.trim()).sort().join(', ')} }`);
}

/** name, MTU, MAC and admin state of a link; not carrier or operational state. */
function linkSummary(line: string): string {
  const m = /^\d+:\s*([^:@]+)[^<]*<([^>]*)>.*?mtu (\d+).*?link\/(\S+)(?: (\S+))?/.exec(line);
  if (!m) return line;
  const admin = m[2]!.split(',').includes('UP') ? 'up' : 'down';
  return `${m[1]} ${admin} mtu ${m[3]} link/${m[4]} ${m[5] ?? ''}`.trim();
}

/** A readable diff of two snapshots: lines only in a, lines only in b. */
/**
 * Read-only /proc/sys files report what the kernel has, not a setting anyone can change: the
 * congestion controls and ULPs loaded, hash sizes, and mc_forwarding (set only by a multicast
 * routing daemon's socket; the IPv6 file is not always listed). Left out of comparisons.
 */
const READ_ONLY_SYSCTL = /^\/proc\/sys\/net\/\S*\/(mc_forwarding|tcp_available_\w+|tcp_ehash_entries|udp_hash_entries):/;

export function snapshotDiff(a: string, b: string): string {
  const la = a.split('\n').filter((l) => !READ_ONLY_SYSCTL.test(l));
  const lb = b.split('\n').filter((l) => !READ_ONLY_SYSCTL.test(l));
  const sa = new Set(la);
  const sb = new Set(lb);
  return [...la.filter((l) => !sb.has(l)).map((l) => `- ${l}`), ...lb.filter((l) => !sa.has(l)).map((l) => `+ ${l}`)].join('\n');
}

/** A snapshot without its links section (MACs of re-created veths are random): for states kept as fixtures. */
export function withoutLinks(s: string): string {
  return s.replace(/== links\n[\s\S]*?(?=\n== |$)/, '== links (left out)\n');
}
