/**
 * The ifupdown hook: /etc/network/if-up.d/vmrouter and if-down.d/vmrouter exec `vmrouter hook`.
 * ifupdown runs it for every stanza with IFACE, ADDRFAM, MODE, PHASE and the stanza's options as
 * IF_* variables. Up happens in post-up (the link is up), down in pre-down (the device still exists:
 * ifdown deletes VLAN devices after pre-down). Stanzas that carry no feature's options are not ours:
 * exit 0 without a word.
 *
 * Every feature is handled alike: `vmrouter-KIND NAME [NAME...]` names its sections, read from
 * vmrouter.conf; a feature whose stanzas are self-contained (routed networks) reads the record from
 * the stanza itself. Up applies the features in registry order, down removes them in reverse, each
 * exactly as the ledger recorded it, whatever the configuration says now.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInput, UsageError } from '../config/errors.js';
import { locateStanza } from '../config/interfaces-file.js';
import { parseRtTables } from '../config/stanza.js';
import { ifnameProblem, networkNameProblem } from '../model/names.js';
import type { Context } from '../cli/context.js';
import { featureDownOp, featureUpOp, type Operation } from '../cli/operations.js';
import type { Feature, FeatureRecord, HookEnv } from '../features/feature.js';
import { FEATURES, featureEnvVar, keptRecord } from '../features/registry.js';

function rtTableIds(): Map<string, number> {
  const files = ['/etc/iproute2/rt_tables', '/usr/share/iproute2/rt_tables'];
  for (const dir of ['/etc/iproute2/rt_tables.d', '/usr/share/iproute2/rt_tables.d']) {
    if (existsSync(dir)) for (const f of readdirSync(dir).sort()) if (f.endsWith('.conf')) files.push(join(dir, f));
  }
  const ids = new Map<string, number>();
  for (const f of files) {
    try {
      for (const [k, v] of parseRtTables(readFileSync(f, 'utf8'))) ids.set(k, v);
    } catch {
      /* absent */
    }
  }
  return ids;
}

const mentions = (f: Feature<FeatureRecord>, env: HookEnv): boolean => (f.stanza ? f.stanza.mentions(env) : env[featureEnvVar(f.kind)] !== undefined);

function checkedName(iface: string, kind: string, name: string): string {
  const problem = networkNameProblem(name);
  if (problem) throw new UsageError(`${iface}: vmrouter-${kind} ${JSON.stringify(name)}: ${problem}`);
  return name;
}

/** The sections named by `vmrouter-KIND NAME [NAME...]`. */
function namesOf(f: Feature<FeatureRecord>, env: HookEnv, iface: string): string[] {
  const names = (env[featureEnvVar(f.kind)] ?? '').trim().split(/\s+/).filter((x) => x !== '');
  if (names.length === 0) throw new UsageError(`${iface}: vmrouter-${f.kind}: expected the name of a [${f.kind} NAME] section`);
  return names.map((n) => checkedName(iface, f.kind, n));
}

/** The operations of one feature for this hook invocation. */
function featureOperations(ctx: Context, f: Feature<FeatureRecord>, env: HookEnv, direction: 'up' | 'down', iface: string, addrfam: string): Operation[] {
  if (f.stanza) {
    if (direction === 'down') {
      const id = f.stanza.identify(env, iface, addrfam);
      return [featureDownOp(f.kind, checkedName(iface, f.kind, id.name), iface, id.part)];
    }
    const where = locateStanza(iface, addrfam);
    const read = f.stanza.read({ iface, addrfam, env, file: where?.file ?? '/etc/network/interfaces', ...(where ? { line: where.line, optionLines: where.optionLines } : {}), tableIds: rtTableIds() });
    if (!read) return [];
    const [record] = f.verify([read.raw], { records: new Map() });
    if (!record) throw new InvalidInput([]);
    const attachment = f.attach(record, f.usesKernel ? ctx.kernel() : undefined).find((a) => a.iface === iface);
    if (!attachment) throw new UsageError(`${iface}: the stanza's ${f.kind} ${record.name} does not attach to ${iface}`);
    return [featureUpOp(ctx.host, f.kind, keptRecord(f, record), attachment, read.identity.part)];
  }
  return namesOf(f, env, iface).map((name) => {
    if (direction === 'down') return featureDownOp(f.kind, name, iface);
    const { kept, attachment } = ctx.featureAttachment(f, name, iface);
    return featureUpOp(ctx.host, f.kind, kept, attachment);
  });
}

/** The operations for this hook invocation: none when there is nothing for vmrouter to do. */
export function hookOperations(ctx: Context, env: HookEnv): Operation[] {
  const ours = FEATURES.filter((f) => mentions(f, env));
  if (ours.length === 0) return [];
  const phase = env.PHASE;
  const direction = phase === 'post-up' ? 'up' : phase === 'pre-down' ? 'down' : null;
  if (direction === null) return [];
  const addrfam = env.ADDRFAM;
  if (addrfam !== 'inet' && addrfam !== 'inet6') return [];
  const iface = env.IFACE ?? '';
  const problem = ifnameProblem(iface);
  if (problem) throw new UsageError(`IFACE ${JSON.stringify(iface)}: ${problem}`);
  const ops = ours.flatMap((f) => featureOperations(ctx, f, env, direction, iface, addrfam));
  // up: in registry order (a routed network before what builds on its interface); down: the reverse
  return direction === 'up' ? ops : ops.reverse();
}
