/**
 * A node with many VM NICs on one /16 network behind a router: a few TAPs with a real VM namespace
 * behind them, the rest veth pairs whose peer stays on the node (routing does not care whether a VM
 * is there). Used by the scale and transaction tests.
 */
import { ifupdown, type Lab } from './netns.js';
import { run } from './run.js';
import { snapshot } from './snapshot.js';
import { buildRoutedLab, configureNode, type RoutedLab } from './topology.js';

export class BulkNetwork {
  constructor(
    readonly name: string,
    readonly table: number,
    /** second octet of 10.N.0.0/16 and the 2001:db8:N::/64 group */
    readonly n: number,
  ) {}
  get subnet(): string {
    return `10.${this.n}.0.0/16`;
  }
  get subnet6(): string {
    return `2001:db8:${this.n}::/64`;
  }
  get gateway(): string {
    return `10.${this.n}.0.1`;
  }
  /** address of VM i (from .0.2 on) */
  ip4(i: number): string {
    return `10.${this.n}.${(i + 2) >> 8}.${(i + 2) & 255}`;
  }
  ip6(i: number): string {
    return `2001:db8:${this.n}::${(i + 2).toString(16)}`;
  }
  conf(role: 'vmc' | 'router'): string {
    return `
[network ${this.name}]
role = ${role}
uplink = eth0.222
${role === 'vmc' ? `table = ${this.table}\narp_ip = 10.${this.n}.255.254\n` : 'upstream = eth0\n'}subnet = ${this.subnet}
gateway = ${this.gateway}
subnet6 = ${this.subnet6}
gateway6 = 2001:db8:${this.n}::1
`;
  }
}

export interface BulkLab {
  l: RoutedLab;
  node: string;
  /** kernel state of the node after ifup, before any VM */
  afterIfup: string;
}

/** `taps` TAP names; those in `withVm` get a VM namespace. Both node and router are up (real ifup). */
export async function buildBulkLab(lab: Lab, net: BulkNetwork, taps: string[], withVm: string[]): Promise<BulkLab> {
  const l = await buildRoutedLab(lab, { n: withVm }, { subnet: net.subnet, subnet6: net.subnet6 });
  const node = l.nodes[0]!;
  const batch = taps.filter((tap) => !withVm.includes(tap)).flatMap((tap, k) => [`link add dev ${tap} type veth peer name p${k}`, `link set dev ${tap} up`]);
  await run(['ip', '-n', node, '-batch', '-'], { input: batch.join('\n') + '\n' });
  await configureNode(node, net.conf('vmc'));
  await configureNode(l.router, net.conf('router'));
  await ifupdown(l.router, 'ifup', 'eth0.222');
  await ifupdown(node, 'ifup', 'eth0.222');
  return { l, node, afterIfup: await snapshot(node) };
}
