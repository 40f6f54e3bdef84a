import type { Origin } from './errors.js';

/** A value as written, before typing: the verify step turns these into the model. */
export interface RawValue {
  value: string;
  origin: Origin;
}

/** One network as written in vmrouter.conf or in an ifupdown stanza. Keys are schema names (snake_case). */
export interface RawNetwork {
  name: string;
  origin: Origin;
  values: Map<string, RawValue>;
  /** every line of a repeatable key (KeySpec.repeat), in file order; `values` holds the first */
  repeated?: Map<string, RawValue[]>;
}
