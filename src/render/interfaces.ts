/**
 * /etc/network/interfaces stanzas for the sections of a config, in two styles built from the same plan:
 *  compact   `vmrouter-*` options; the installed ifupdown hooks apply the network (exact teardown, shared
 *            objects counted, sysctls restored to their previous values);
 *  expanded  plain `up`/`down` lines that need no vmrouter at runtime. `down` writes kernel defaults
 *            back to sysctls and leaves shared objects (the vmrouter nft tables, node-wide forwarding
 *            settings) in place, because plain lines cannot know whether another network uses them.
 */
import type { Network } from '../model/network.js';
import type { FeatureRecord, KernelFacts } from '../features/feature.js';
import { FEATURES } from '../features/registry.js';
import { doArgv, undoArgv, type Step } from '../plan/step.js';
import { shellLine } from './shell.js';
import { renderTemplate } from './templates.js';

export type StanzaStyle = 'compact' | 'expanded';

const upLines = (steps: Step[]) => steps.map((s) => ({ why: s.why, line: shellLine(doArgv(s)) }));
const downLines = (steps: Step[]) =>
  steps
    .filter((s) => !s.shared)
    .map(undoArgv)
    .filter((argv): argv is string[] => argv !== null)
    .reverse()
    .map((argv) => ({ line: shellLine(argv) }));

/**
 * Every attachment of every record (Config.features; routed networks first) becomes a stanza of its
 * interface: `vmrouter-KIND NAME` and, for self-contained stanzas, the record's keys (compact), or
 * its steps as plain lines (expanded). `--node`: only what that node applies.
 */
export function renderInterfaces(
  style: StanzaStyle,
  source: string,
  features: ReadonlyMap<string, readonly FeatureRecord[]>,
  { node, kernel }: { node?: string | undefined; kernel?: KernelFacts } = {},
): Promise<string> {
  const seen = new Set<string>();
  const stanzas = FEATURES.flatMap((f) =>
    (features.get(f.kind) ?? []).flatMap((record) =>
      f.attach(record, kernel).filter((a) => node === undefined || a.nodes === undefined || a.nodes.includes(node)).map((a) => {
        const auto = !seen.has(a.iface);
        seen.add(a.iface);
        const steps = style === 'expanded' ? a.steps : [];
        const options = style === 'compact' ? [{ name: `vmrouter-${f.kind}`, value: record.name }, ...(f.stanza?.options(record) ?? [])] : [];
        return { kind: f.kind, name: record.name, summary: a.summary, iface: a.iface, auto, options, create: a.create ? { up: shellLine(a.create.up), down: shellLine(a.create.down) } : null, up: upLines(steps), down: downLines(steps) };
      }),
    ),
  );
  return renderTemplate('interfaces', { expanded: style === 'expanded', source, node: node ?? null, stanzas });
}

export function renderRtTables(networks: readonly Network[], source: string): Promise<string> {
  const tables = networks.filter((n) => n.table !== null && n.tableName).map((n) => ({ id: n.table, name: n.tableName }));
  return renderTemplate('rt_tables', { source, tables });
}
