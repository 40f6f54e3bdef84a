/**
 * The one list of feature modules: every kind of named section of vmrouter.conf. Order matters: a
 * feature's verify sees the records of those before it (routed networks first), ifup applies the
 * attachments of one interface in this order and ifdown removes them in reverse.
 */
import type { Feature, FeatureRecord } from './feature.js';
import { natpairFeature } from './natpair.js';
import { networkFeature } from './network.js';
import { twinFeature } from './twin.js';
import { vnetFeature } from './vnet.js';
import { vrfFeature } from './vrf.js';

/**
 * Erases a feature's record type for the list: every record reaching `attach`/`lint` through the
 * registry came from that same feature's `verify` (the loader keys records by kind), so the
 * narrowing is sound even though TypeScript cannot see it (method parameters are contravariant).
 */
const register = <R extends FeatureRecord>(feature: Feature<R>): Feature<FeatureRecord> => feature as unknown as Feature<FeatureRecord>;

export const FEATURES: readonly Feature<FeatureRecord>[] = [register(networkFeature), register(vrfFeature), register(twinFeature), register(natpairFeature), register(vnetFeature)];

export function featureOf(kind: string): Feature<FeatureRecord> | undefined {
  return FEATURES.find((f) => f.kind === kind);
}

/** What the ledger keeps of a record applied on an interface (Feature.keep). */
export const keptRecord = (feature: Feature<FeatureRecord>, record: FeatureRecord): FeatureRecord => (feature.keep ? feature.keep(record) : { name: record.name });

/** Ledger owner of one attachment; `part` tells several stanzas of one interface apart (StanzaIdentity). */
export const featureOwner = (kind: string, name: string, iface: string, part?: string): string => `${kind}:${name}@${iface}${part ? `:${part}` : ''}`;

/** `IF_VMROUTER_TWIN` → the feature `twin`: the environment variable ifupdown sets for `vmrouter-twin`. */
export const featureEnvVar = (kind: string): string => `IF_VMROUTER_${kind.toUpperCase().replace(/-/g, '_')}`;
