/**
 * /etc/network/interfaces stanzas for the sections of a config, in two styles built from the same plan:
 *  compact   `vmrouter-*` options; the installed ifupdown hooks apply the network (exact teardown, shared
 *            objects counted, sysctls restored to their previous values);
 *  expanded  plain `up`/`pre-down` lines that need no vmrouter at runtime, with the same exact teardown:
 *            holder files count shared objects and keep sysctls' previous values (expanded.ts).
 */
import type { Network } from '../model/network.js';
import type { FeatureRecord, KernelFacts } from '../features/feature.js';
import { DEFAULT_CONFIG } from '../config/load.js';
import { FEATURES } from '../features/registry.js';
import { ExpandedLines, holderName } from './expanded.js';
import { renderTemplate } from './templates.js';

export type StanzaStyle = 'compact' | 'expanded';

/**
 * Every attachment of every record (Config.features; routed networks first) becomes a stanza of its
 * interface: `vmrouter-KIND NAME` and, for self-contained stanzas, the record's keys (compact), or
 * its steps as plain lines (expanded). `--node`: only what that node applies.
 */
export function renderInterfaces(
  style: StanzaStyle,
  source: string,
  features: ReadonlyMap<string, readonly FeatureRecord[]>,
  { node, kernel, hookConfig, expandedState = '/run/vmrouter/expanded' }: { node?: string | undefined; kernel?: KernelFacts; hookConfig?: string; expandedState?: string } = {},
): Promise<string> {
  const seen = new Set<string>();
  const stanzas = FEATURES.flatMap((f) =>
    (features.get(f.kind) ?? []).flatMap((record) =>
      f.attach(record, kernel).filter((a) => node === undefined || a.nodes === undefined || a.nodes.includes(node)).map((a) => {
        const auto = !seen.has(a.iface);
        seen.add(a.iface);
        const expanded = style === 'expanded' ? new ExpandedLines(expandedState, holderName(f.kind, record.name, a.iface)) : null;
        // compact: the hook reads the section from the configuration (vmrouter-config when it is not
        // the default) or the stanza itself, and makes the device in pre-up (vmrouter-create)
        const options =
          style === 'compact'
            ? [
                { name: `vmrouter-${f.kind}`, value: record.name },
                ...(f.stanza ? f.stanza.options(record) : hookConfig && hookConfig !== DEFAULT_CONFIG ? [{ name: 'vmrouter-config', value: hookConfig }] : []),
                ...(a.create ? [{ name: 'vmrouter-create', value: 'yes' }] : []),
              ]
            : [];
        const create = a.create && expanded ? expanded.device(a.create, a.iface) : null;
        const lines = expanded ? expanded.lines(a.steps) : { up: [], down: [] };
        return { kind: f.kind, name: record.name, summary: a.summary, iface: a.iface, auto, options, create, ...lines };
      }),
    ),
  );
  return renderTemplate('interfaces', { expanded: style === 'expanded', source, node: node ?? null, stanzas });
}

export function renderRtTables(networks: readonly Network[], source: string): Promise<string> {
  const tables = networks.filter((n) => n.table !== null && n.tableName).map((n) => ({ id: n.table, name: n.tableName }));
  return renderTemplate('rt_tables', { source, tables });
}
