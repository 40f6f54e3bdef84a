/**
 * `vmrouter check`'s warnings for a whole configuration: the rule and table space shared by routed
 * networks and every feature (features/rule-space.ts), then each feature's own hazards. Pure.
 */
import type { Config } from '../config/load.js';
import type { KernelFacts } from './feature.js';
import { FEATURES } from './registry.js';
import { lintRuleSpace, type RuleUser } from './rule-space.js';

export function lintConfig(config: Config, kernel?: KernelFacts): string[] {
  const users: RuleUser[] = config.networks.map((n) => ({
    who: `[network ${n.name}]`,
    tables: n.table !== null ? [n.table] : [],
    // routed networks select by fwmark (TAP traffic) and by destination, at their `priority`
    rules: n.table !== null ? [{ pref: n.priority, mark: true }] : [],
    vrf: false,
  }));
  for (const f of FEATURES) for (const r of config.features.get(f.kind) ?? []) users.push(...(f.ruleUsers?.(r, kernel) ?? []));
  const context = { networks: config.networks, records: config.features, ...(kernel ? { kernel } : {}) };
  return [...lintRuleSpace(users), ...FEATURES.flatMap((f) => f.lint?.(config.features.get(f.kind) ?? [], context) ?? [])];
}
