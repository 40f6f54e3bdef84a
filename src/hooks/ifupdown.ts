/**
 * The ifupdown hook: /etc/network/if-up.d/vmrouter and if-down.d/vmrouter exec `vmrouter hook`.
 * ifupdown runs it for every stanza with IFACE, ADDRFAM, MODE, PHASE and the stanza's options as
 * IF_* variables. Up happens in post-up (the link is up), down in pre-down (the device still exists:
 * ifdown deletes VLAN devices after pre-down). Stanzas without vmrouter or snf-network options are
 * not ours: exit 0 without a word.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInput, UsageError } from '../config/errors.js';
import { locateStanza } from '../config/interfaces-file.js';
import { legacyName, parseRtTables, readStanza, type AddressFamily } from '../config/stanza.js';
import { ifnameProblem, networkNameProblem } from '../model/names.js';
import { verifyNetworks } from '../model/verify.js';
import { networkOwner } from '../exec/ledger.js';
import type { Context } from '../cli/context.js';
import { featureDownOp, featureUpOp, networkDownOp, networkUpOp, type Operation } from '../cli/operations.js';
import { FEATURES, featureEnvVar } from '../features/registry.js';

type Env = Readonly<Record<string, string | undefined>>;

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

const mentionsUs = (env: Env): boolean => Object.keys(env).some((k) => /^IF_(VMROUTER_|IP_ROUTING_TABLE$|IP_ROUTES$|IP_GATEWAY$|IP_FORWARDING$|IP_PROXY_ARP$|IP_PROXY_NDP$|ARP_IP$)/.test(k));
const FEATURE_VARS: ReadonlySet<string> = new Set(FEATURES.map((f) => featureEnvVar(f.kind)));
/** Options of a routed network (`vmrouter-network`, `vmrouter-role`, …), not of a feature. */
const mentionsNetwork = (env: Env): boolean => Object.keys(env).some((k) => !FEATURE_VARS.has(k) && mentionsUs({ [k]: '' }));

/**
 * The features named in the stanza (`vmrouter-KIND NAME [NAME...]`). Up reads their records from
 * vmrouter.conf; down removes what the ledger holds for them on this interface, whatever the
 * configuration says now.
 */
function featureOperations(ctx: Context, env: Env, direction: 'up' | 'down', iface: string): Operation[] {
  const ops: Operation[] = [];
  for (const f of FEATURES) {
    const value = env[featureEnvVar(f.kind)];
    if (value === undefined) continue;
    const names = value.trim().split(/\s+/).filter((x) => x !== '');
    const option = `vmrouter-${f.kind}`;
    if (names.length === 0) throw new UsageError(`${iface}: ${option}: expected the name of a [${f.kind} NAME] section`);
    for (const name of names) {
      const problem = networkNameProblem(name);
      if (problem) throw new UsageError(`${iface}: ${option} ${JSON.stringify(name)}: ${problem}`);
      if (direction === 'down') {
        ops.push(featureDownOp(f.kind, name, iface));
        continue;
      }
      const mine = ctx.featureAttachment(f, name, iface);
      ops.push(featureUpOp(ctx.host, f.kind, name, mine));
    }
  }
  return ops;
}

/** The operations for this hook invocation: none when there is nothing for vmrouter to do. */
export function hookOperations(ctx: Context, env: Env): Operation[] {
  if (!mentionsUs(env)) return [];
  const phase = env.PHASE;
  const direction = phase === 'post-up' ? 'up' : phase === 'pre-down' ? 'down' : null;
  if (direction === null) return [];
  const addrfam = env.ADDRFAM;
  if (addrfam !== 'inet' && addrfam !== 'inet6') return [];
  const iface = env.IFACE ?? '';
  const problem = ifnameProblem(iface);
  if (problem) throw new UsageError(`IFACE ${JSON.stringify(iface)}: ${problem}`);
  const features = featureOperations(ctx, env, direction, iface);
  if (!mentionsNetwork(env)) return features;
  const network = hookOperation(ctx, env);
  // up: the network first, then what builds on it; down: the reverse
  return direction === 'up' ? [...(network ? [network] : []), ...features] : [...features, ...(network ? [network] : [])];
}

/** The routed network of this hook invocation, or null when there is nothing for vmrouter to do. */
export function hookOperation(ctx: Context, env: Env): Operation | null {
  if (!mentionsNetwork(env)) return null;
  const phase = env.PHASE;
  const direction = phase === 'post-up' ? 'up' : phase === 'pre-down' ? 'down' : null;
  if (direction === null) return null;
  const addrfam = env.ADDRFAM;
  if (addrfam !== 'inet' && addrfam !== 'inet6') return null;
  const iface = env.IFACE ?? '';
  const problem = ifnameProblem(iface);
  if (problem) throw new UsageError(`IFACE ${JSON.stringify(iface)}: ${problem}`);

  const own = env.IF_VMROUTER_NETWORK !== undefined || Object.keys(env).some((k) => k.startsWith('IF_VMROUTER_') && !FEATURE_VARS.has(k));
  if (direction === 'down') {
    // Remove what the ledger says was added; the stanza's other options may have changed since.
    const name = own ? (env.IF_VMROUTER_NETWORK ?? '').trim() : legacyName(iface);
    if (networkNameProblem(name)) throw new UsageError(`vmrouter-network ${JSON.stringify(name)}: ${networkNameProblem(name)}`);
    return networkDownOp(name, own ? networkOwner(name) : `${networkOwner(name)}@${addrfam}`);
  }

  const where = locateStanza(iface, addrfam);
  const stanza = readStanza({
    iface,
    addrfam: addrfam as AddressFamily,
    env,
    file: where?.file ?? '/etc/network/interfaces',
    ...(where ? { line: where.line, optionLines: where.optionLines } : {}),
    tableIds: rtTableIds(),
  });
  if (!stanza) return null;
  const [network] = verifyNetworks([stanza.raw]);
  if (!network) throw new InvalidInput([]);
  const owner = stanza.dialect === 'vmrouter' ? networkOwner(network.name) : `${networkOwner(network.name)}@${addrfam}`;
  return networkUpOp(ctx.host, network, owner);
}
