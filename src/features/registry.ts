/**
 * The one list of feature modules beyond the routed networks of [network NAME] (features/routed.ts,
 * which predates the registry and keeps its own stanza options). Order matters: a feature's verify
 * sees the records of those before it.
 */
import type { Feature, FeatureRecord } from './feature.js';
import { natpairFeature } from './natpair.js';
import { twinFeature } from './twin.js';
import { vnetFeature } from './vnet.js';
import { vrfFeature } from './vrf.js';

/**
 * Erases a feature's record type for the list: every record reaching `attach`/`lint` through the
 * registry came from that same feature's `verify` (the loader keys records by kind), so the
 * narrowing is sound even though TypeScript cannot see it (method parameters are contravariant).
 */
const register = <R extends FeatureRecord>(feature: Feature<R>): Feature<FeatureRecord> => feature as unknown as Feature<FeatureRecord>;

export const FEATURES: readonly Feature<FeatureRecord>[] = [register(vrfFeature), register(twinFeature), register(natpairFeature), register(vnetFeature)];

export function featureOf(kind: string): Feature<FeatureRecord> | undefined {
  return FEATURES.find((f) => f.kind === kind);
}

/** Ledger owner of one attachment. */
export const featureOwner = (kind: string, name: string, iface: string): string => `${kind}:${name}@${iface}`;

/** `IF_VMROUTER_TWIN` → the feature `twin`: the environment variable ifupdown sets for `vmrouter-twin`. */
export const featureEnvVar = (kind: string): string => `IF_VMROUTER_${kind.toUpperCase().replace(/-/g, '_')}`;
