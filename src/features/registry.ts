/**
 * The one list of feature modules beyond the routed networks of [network NAME] (features/routed.ts,
 * which predates the registry and keeps its own stanza options). Order matters: a feature's verify
 * sees the records of those before it.
 */
import type { Feature, FeatureRecord } from './feature.js';
import { twinFeature } from './twin.js';
import { vrfFeature } from './vrf.js';

export const FEATURES: readonly Feature<FeatureRecord>[] = [vrfFeature as unknown as Feature<FeatureRecord>, twinFeature as unknown as Feature<FeatureRecord>];

export function featureOf(kind: string): Feature<FeatureRecord> | undefined {
  return FEATURES.find((f) => f.kind === kind);
}

/** Ledger owner of one attachment. */
export const featureOwner = (kind: string, name: string, iface: string): string => `${kind}:${name}@${iface}`;

/** `IF_VMROUTER_TWIN` → the feature `twin`: the environment variable ifupdown sets for `vmrouter-twin`. */
export const featureEnvVar = (kind: string): string => `IF_VMROUTER_${kind.toUpperCase().replace(/-/g, '_')}`;
