/**
 * Routed VM networks ([network NAME], seed 004) as a registered feature: one attachment, on the
 * uplink; per-VM NICs bind to a network as applied (features/routed.ts planTap, cli/tap-operations.ts).
 *
 * Their compact stanzas are self-contained: `vmrouter-network NAME` and the section's keys as
 * `vmrouter-*` options, so the hook applies them without reading vmrouter.conf. The hook also reads
 * snf-network / gnt-networking stanzas (`ip-routing-table`, `ip-routes`, …), one address family per
 * stanza; those attachments are told apart by the family (`network:eth0_222@eth0.222:inet`).
 */
import { readStanza, legacyName, type AddressFamily } from '../config/stanza.js';
import type { Network } from '../model/network.js';
import { verifyNetworks } from '../model/verify.js';
import { networkOptions } from '../render/options.js';
import type { Feature, HookEnv, StanzaCodec } from './feature.js';
import { LEGACY_OPTIONS, NETWORK_KEYS } from './network-keys.js';
import { planNetwork } from './routed.js';

export const NETWORK_KIND = 'network';

const envName = (option: string): string => `IF_${option.toUpperCase().replace(/-/g, '_')}`;
/** IF_VMROUTER_NETWORK and one variable per key (IF_VMROUTER_UPLINK too, which readStanza refuses with a reason) */
const OWN = new Set(['vmrouter-network', ...NETWORK_KEYS.map((k) => `vmrouter-${k.key.replace(/_/g, '-')}`)].map(envName));
const LEGACY = new Set(Object.keys(LEGACY_OPTIONS).map(envName));
const own = (env: HookEnv): boolean => Object.keys(env).some((k) => OWN.has(k));

const stanza: StanzaCodec<Network> = {
  options: (n) => networkOptions(n).filter((o) => o.name !== 'vmrouter-network'),
  mentions: (env) => Object.keys(env).some((k) => OWN.has(k) || LEGACY.has(k)),
  identify: (env, iface) => ({ name: own(env) ? (env.IF_VMROUTER_NETWORK ?? '').trim() : legacyName(iface) }),
  read(where) {
    const read = readStanza({ ...where, addrfam: where.addrfam as AddressFamily });
    if (!read) return null;
    return { raw: read.raw, identity: read.dialect === 'vmrouter' ? { name: read.raw.name } : { name: read.raw.name, part: where.addrfam } };
  },
  legacy: LEGACY_OPTIONS,
};

export const networkFeature: Feature<Network> = {
  kind: NETWORK_KIND,
  summary: 'A routed VM network (the snf-network "Routed Setup"): the node answers ARP and NDP on the uplink for the VMs it hosts, routes them through an extra table and binds their TAPs. NAME is how commands and the ledger refer to it.',
  keys: NETWORK_KEYS,
  verify: (sections, context) => verifyNetworks([...sections], context.warnings),
  attach: (n) => [{ iface: n.uplink, summary: `role ${n.role}${n.table !== null ? `, table ${n.table}` : ''}`, steps: planNetwork(n) }],
  // routed networks select by fwmark (TAP traffic) and by destination, at their `priority`
  ruleUsers: (n) => [{ who: `[network ${n.name}]`, tables: n.table !== null ? [n.table] : [], rules: n.table !== null ? [{ pref: n.priority, mark: true }] : [], vrf: false }],
  // TAP bindings read the network as it was applied
  keep: (n) => n,
  stanza,
  describe: (n) => `${n.name}: ${n.role}`,
};
