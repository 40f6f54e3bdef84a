/**
 * A Plan is an ordered list of Steps. Each Step is one kernel object or setting vmrouter owns: how to
 * create it, how to remove it, and why it exists. Steps are data; only src/exec runs them.
 *
 * `key` names the object (not the command text of its removal), so the runner can tell that two
 * owners want the same object (shared: created once, removed with its last holder) and that a
 * reconcile keeps what is unchanged.
 */

/** The protocol number vmrouter stamps on its routes and rules (iproute2 rt_protos: 86 "vmrouter"). */
export const RT_PROTO = '86';

interface StepBase {
  key: string;
  /** one line, for `plan` output and stanza comments */
  why: string;
  /**
   * Held by every network (e.g. the nft table skeleton, node-wide IPv6 forwarding). The runner
   * removes it with its last holder; plain `down` lines of expanded stanzas cannot count holders and
   * leave it in place.
   */
  shared?: boolean;
}

/** An iproute2 command, run through `ip -batch -` (family 4/6 selects `-4`/`-6`). */
export interface IpStep extends StepBase {
  kind: 'ip';
  family: 0 | 4 | 6;
  args: string[];
  /** null: removed by the kernel together with something else */
  undo: string[] | null;
  /** "already exists" is an error, not somebody else's object to leave alone (a VM's host route) */
  exclusive?: boolean;
}

/** A /proc/sys setting. The runner records the value it replaced and restores that on removal. */
export interface SysctlStep extends StepBase {
  kind: 'sysctl';
  /** slash form, e.g. net/ipv4/conf/eth0.222/proxy_arp (dots in interface names stay intact) */
  path: string;
  value: string;
  /** what plain stanzas write on down: the kernel default */
  fallback: string;
}

/** nft commands applied as one transaction (`nft -f -`). */
export interface NftStep extends StepBase {
  kind: 'nft';
  add: string[];
  undo: string[];
  /** this step creates the nft table named here ("inet vmrouter"); removing it removes its contents */
  provides?: string;
  /** this step lives inside that table (a set element) and disappears with it */
  within?: string;
}

/** A link's MAC address; the runner records the previous one and restores it. */
export interface MacStep extends StepBase {
  kind: 'mac';
  dev: string;
  mac: string;
}

/** A link up (administratively); the runner records whether it was down and puts that back. */
export interface LinkUpStep extends StepBase {
  kind: 'link-up';
  dev: string;
}

/** Tell the L2 segment where an address now lives: gratuitous ARP (RFC 5227) or unsolicited NA (RFC 4861 7.2.6). */
export interface AnnounceStep extends StepBase {
  kind: 'announce';
  family: 4 | 6;
  dev: string;
  address: string;
}

export type Step = IpStep | SysctlStep | NftStep | MacStep | LinkUpStep | AnnounceStep;
export type HeldStep = Exclude<Step, AnnounceStep>;

export const isHeld = (s: Step): s is HeldStep => s.kind !== 'announce';

export function ip(family: 0 | 4 | 6, args: string[], undo: string[] | null, why: string, extra: Pick<IpStep, 'shared' | 'exclusive'> = {}): IpStep {
  return { kind: 'ip', family, args, undo, why, key: `ip${family === 0 ? '' : ` -${family}`} ${args.join(' ')}`, ...extra };
}

export function sysctl(path: string, value: string, fallback: string, why: string, shared = false): SysctlStep {
  return { kind: 'sysctl', path, value, fallback, why, key: `sysctl ${path}`, ...(shared ? { shared } : {}) };
}

export function nft(add: string[], undo: string[], why: string, extra: Pick<NftStep, 'shared' | 'provides' | 'within'> = {}): NftStep {
  const key = extra.provides ? `nft table ${extra.provides}` : `nft ${add.join('; ')}`;
  return { kind: 'nft', add, undo, why, key, ...extra };
}

export function mac(dev: string, address: string, why: string): MacStep {
  return { kind: 'mac', dev, mac: address, why, key: `mac ${dev}` };
}

export function linkUp(dev: string, why: string): LinkUpStep {
  return { kind: 'link-up', dev, why, key: `link-up ${dev}` };
}

export function announce(family: 4 | 6, dev: string, address: string, why: string): AnnounceStep {
  return { kind: 'announce', family, dev, address, why, key: `announce ${dev} ${address}` };
}

/** The argv that creates a step's object, as a person would type it (and as expanded stanzas run it). */
export function doArgv(s: Step): string[] {
  switch (s.kind) {
    case 'ip':
      return ['ip', ...(s.family ? [`-${s.family}`] : []), ...s.args];
    case 'sysctl':
      return ['sysctl', '-q', '-w', `${s.path}=${s.value}`];
    case 'nft':
      return ['nft', s.add.join('; ')];
    case 'mac':
      return ['ip', 'link', 'set', 'dev', s.dev, 'address', s.mac];
    case 'link-up':
      return ['ip', 'link', 'set', 'dev', s.dev, 'up'];
    case 'announce':
      return ['vmrouter', 'announce', `--family=${s.family}`, `--dev=${s.dev}`, s.address];
  }
}

/** The argv that removes it, for plain stanzas; null when nothing needs to run. */
export function undoArgv(s: Step): string[] | null {
  switch (s.kind) {
    case 'ip':
      return s.undo ? ['ip', ...(s.family ? [`-${s.family}`] : []), ...s.undo] : null;
    case 'sysctl':
      return ['sysctl', '-q', '-w', `${s.path}=${s.fallback}`];
    case 'nft':
      return ['nft', s.undo.join('; ')];
    case 'mac':
    case 'link-up':
      return null;
    case 'announce':
      return null;
  }
}
