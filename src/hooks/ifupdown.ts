/**
 * The ifupdown hook: /etc/network/if-up.d/vmrouter and if-down.d/vmrouter exec `vmrouter hook`.
 * ifupdown and ifupdown2 run it with IFACE, ADDRFAM, MODE, PHASE and the stanza's options as IF_*
 * variables (hooks/vmrouter lists the directories and phases). Up happens in post-up (the link is
 * up), down in pre-down (the device still exists: ifdown deletes VLAN devices after pre-down); a
 * device vmrouter creates for a stanza (a virtual network's bridge) is made in pre-up and deleted in
 * post-down, as its own ledger owner, so a failed ifup can simply be retried. Stanzas that carry no
 * feature's options are not ours: exit 0 without a word.
 *
 * Every feature is handled alike: `vmrouter-KIND NAME [NAME...]` names its sections, read from
 * vmrouter.conf; a feature whose stanzas are self-contained (routed networks) reads the record from
 * the stanza itself. Up applies the features in registry order, down removes them in reverse, each
 * exactly as the ledger recorded it, whatever the configuration says now.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { InvalidInput, UsageError } from '../config/errors.js';
import { locateStanza, readStanzaOptions } from '../config/interfaces-file.js';
import { parseRtTables } from '../config/stanza.js';
import { ifnameProblem, networkNameProblem } from '../model/names.js';
import type { Context } from '../cli/context.js';
import { deviceDownOp, deviceUpOp, featureDownOp, featureUpOp, orphanDeviceDownOp, type Operation } from '../cli/operations.js';
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

type Phase = 'create' | 'up' | 'down' | 'delete';
const PHASES: Readonly<Record<string, Phase>> = { 'pre-up': 'create', 'post-up': 'up', 'pre-down': 'down', 'post-down': 'delete' };

/**
 * The families of the stanza: ifupdown runs the hook once per stanza (inet, inet6), ifupdown2 once
 * per interface with ADDRFAM="inet,inet6" for merged stanzas, and the IF_* of the first stanza
 * only; so with several families each one's options are read from the interfaces file.
 */
function stanzaEnvs(env: HookEnv, iface: string): { addrfam: string; env: HookEnv }[] {
  const families = (env.ADDRFAM ?? '').split(',').filter((f) => f === 'inet' || f === 'inet6');
  if (families.length <= 1) return families.map((addrfam) => ({ addrfam, env }));
  return families.map((addrfam) => {
    const options = readStanzaOptions(iface, addrfam);
    if (!options) return { addrfam, env };
    const own: Record<string, string> = {};
    for (const [k, v] of options) own[`IF_${k.toUpperCase().replace(/-/g, '_')}`] = v;
    return { addrfam, env: { ...Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('IF_'))), ...own } };
  });
}

/** The operations of one feature for this hook invocation. */
function featureOperations(ctx: Context, f: Feature<FeatureRecord>, env: HookEnv, phase: Phase, iface: string): Operation[] {
  if (f.stanza) {
    if (phase === 'down') return [featureDownOp(f.kind, checkedName(iface, f.kind, f.stanza.identify(env, iface).name), iface)];
    if (phase !== 'up') return [];
    return stanzaEnvs(env, iface).flatMap(({ addrfam, env: own }) => {
      if (!f.stanza!.mentions(own)) return [];
      const where = locateStanza(iface, addrfam);
      const read = f.stanza!.read({ iface, addrfam, env: own, file: where?.file ?? '/etc/network/interfaces', ...(where ? { line: where.line, optionLines: where.optionLines } : {}), tableIds: rtTableIds() });
      if (!read) return [];
      const [record] = f.verify([read.raw], { records: new Map() });
      if (!record) throw new InvalidInput([]);
      const attachment = f.attach(record, f.usesKernel ? ctx.kernel() : undefined).find((a) => a.iface === iface);
      if (!attachment) throw new UsageError(`${iface}: the stanza's ${f.kind} ${record.name} does not attach to ${iface}`);
      return [featureUpOp(ctx.host, f.kind, keptRecord(f, record), attachment, read.identity.part)];
    });
  }
  return namesOf(f, env, iface).flatMap((name) => {
    if (phase === 'down') return [featureDownOp(f.kind, name, iface)];
    if (phase === 'delete') return [deviceDownOp(f.kind, name, iface)];
    const { kept, attachment } = ctx.featureAttachment(f, name, iface);
    if (phase === 'create') return attachment.create ? [deviceUpOp(f.kind, name, iface, attachment.create)] : [];
    return [featureUpOp(ctx.host, f.kind, kept, attachment)];
  });
}

/** The operations for this hook invocation: none when there is nothing for vmrouter to do. */
export function hookOperations(ctx: Context, env: HookEnv): Operation[] {
  const none: Operation[] = [];
  const ours = FEATURES.filter((f) => mentions(f, env));
  if (ours.length === 0) return none;
  const phase = PHASES[env.PHASE ?? ''];
  if (phase === undefined) return none;
  // ifupdown2 gives no (or a stale) ADDRFAM in pre-up and pre-down; up needs one
  if (phase === 'up' && stanzaEnvs(env, env.IFACE ?? '').length === 0) return none;
  const iface = env.IFACE ?? '';
  const problem = ifnameProblem(iface);
  if (problem) throw new UsageError(`IFACE ${JSON.stringify(iface)}: ${problem}`);
  // the stanza names the configuration its sections are in (vmrouter generate --hook-config)
  const config = env.IF_VMROUTER_CONFIG?.trim();
  if (config !== undefined) {
    if (!isAbsolute(config) || /[\0\n]/.test(config)) throw new UsageError(`${iface}: vmrouter-config ${JSON.stringify(config)}: an absolute file name`);
    ctx.useConfigFile(config);
  }
  const ops = ours.flatMap((f) => featureOperations(ctx, f, env, phase, iface));
  // up: in registry order (a routed network before what builds on its interface); down: the reverse
  return phase === 'up' || phase === 'create' ? ops : ops.reverse();
}

/** What a failed post-up runs, so that a failed ifup leaves no device of ours behind. */
export function failedUpOperations(env: HookEnv): Operation[] {
  if (env.PHASE !== 'post-up' || env.IF_VMROUTER_CREATE !== 'yes') return [];
  const iface = env.IFACE ?? '';
  if (ifnameProblem(iface)) return [];
  return FEATURES.filter((f) => !f.stanza && mentions(f, env)).flatMap((f) => {
    try {
      return namesOf(f, env, iface).map((name) => orphanDeviceDownOp(f.kind, name, iface));
    } catch {
      return [];
    }
  });
}
