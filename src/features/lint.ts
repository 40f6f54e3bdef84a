/**
 * `vmrouter check`'s warnings for a whole configuration: the rule and table space shared by every
 * feature, routed networks included (features/rule-space.ts), then each feature's own hazards. Pure.
 */
import type { Config } from '../config/load.js';
import type { KernelFacts } from './feature.js';
import { FEATURES } from './registry.js';
import { lintRuleSpace, type RuleUser } from './rule-space.js';

export function lintConfig(config: Config, kernel?: KernelFacts): string[] {
  const users: RuleUser[] = [];
  for (const f of FEATURES) for (const r of config.features.get(f.kind) ?? []) users.push(...(f.ruleUsers?.(r, kernel) ?? []));
  const context = { records: config.features, ...(kernel ? { kernel } : {}) };
  return [...lintRuleSpace(users), ...FEATURES.flatMap((f) => f.lint?.(config.features.get(f.kind) ?? [], context) ?? [])];
}
