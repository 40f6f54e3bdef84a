/**
 * Twin networks (seed 000): two interfaces of this node that carry the same range (say both
 * 192.168.2.0/24, the node at .1 on each) and see each other through a mapped range (192.168.3.0/24).
 * A host on one side reaches 192.168.2.X on the other side as 192.168.3.X, and appears there as
 * 192.168.3.Y. NETMAP (nft `dnat/snat prefix to`) translates, a mark set on the real ingress
 * interface picks the other side's routing table, and a conntrack zone per side (zone-orig, set in
 * the raw hook before conntrack) keeps identical 4-tuples from the two sides apart.
 *
 * Records: model/twin.ts. Two implementations (twin-plan.ts): one VRF per side when the kernel has
 * CONFIG_NET_VRF, otherwise plain policy routing with one table per side. `variant = auto` picks by
 * what the CLI detected.
 */
import { TWIN_KEYS, verifyTwins, type TwinRecord } from '../model/twin.js';
import type { Feature, KernelFacts } from './feature.js';
import type { RuleUser } from './rule-space.js';
import { planSide, resolveVariant } from './twin-plan.js';

/** The rule/table users a twin adds, for the linter. */
export function twinRuleUsers(r: TwinRecord, kernel?: KernelFacts): RuleUser[] {
  const vrf = resolveVariant(r, kernel) === 'vrf';
  return [r.inner, r.outer].map((s) => ({ who: `[twin ${r.name}] ${s.iface}`, tables: [s.table], rules: [{ pref: r.priority, mark: true }], vrf }));
}

export const twinFeature: Feature<TwinRecord> = {
  kind: 'twin',
  usesKernel: true,
  summary: 'Two interfaces carrying the same address range, each reaching the other through a mapped range (NETMAP, a VRF or a table per side, conntrack zones).',
  keys: TWIN_KEYS,
  verify: verifyTwins,
  attach(r, kernel) {
    const variant = resolveVariant(r, kernel);
    return [
      { iface: r.inner.iface, summary: `${r.inner.iface} side (${variant} variant), reaches ${r.outer.iface} through ${[r.v4?.mapped.cidr, r.v6?.mapped.cidr].filter(Boolean).join(' and ')}`, steps: planSide(r, 'inner', variant) },
      { iface: r.outer.iface, summary: `${r.outer.iface} side (${variant} variant), reaches ${r.inner.iface} through ${[r.v4?.mapped.cidr, r.v6?.mapped.cidr].filter(Boolean).join(' and ')}`, steps: planSide(r, 'outer', variant) },
    ];
  },
  // auto is linted as VRF: the stricter ordering, and what a kernel with CONFIG_NET_VRF will run
  ruleUsers: (r) => twinRuleUsers(r, { vrf: r.variant !== 'policy' }),
  lint: (records, { kernel }) =>
    kernel && !kernel.vrf ? records.filter((r) => r.variant === 'vrf').map((r) => `[twin ${r.name}]: variant vrf, but this kernel has no VRF devices; ifup will fail (use variant = policy or auto)`) : [],
};
