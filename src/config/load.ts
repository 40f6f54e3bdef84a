/** load: vmrouter.conf → verified networks and responder configuration. */
import { readFileSync } from 'node:fs';
import type { Network } from '../model/network.js';
import { verifyNetworks } from '../model/verify.js';
import { verifyResponder, type ResponderConfig } from '../ndp/config.js';
import type { FeatureRecord } from '../features/feature.js';
import { FEATURES } from '../features/registry.js';
import { InputError, InvalidInput } from './errors.js';
import { loadIniSections } from './ini.js';

export const DEFAULT_CONFIG = '/etc/vmrouter/vmrouter.conf';

export interface Config {
  networks: Network[];
  responder: ResponderConfig;
  /** records of the registered features, by kind (every kind present, possibly empty) */
  features: Map<string, FeatureRecord[]>;
}

export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw new InvalidInput([new InputError({ file, section: '(file)' }, `cannot read: ${reason}`)]);
  }
}

/** Every section verified; the problems of all of them reported together. */
export function parseFullConfig(text: string, file: string): Config {
  const sections = loadIniSections(text, file);
  const problems: InputError[] = [];
  const attempt = <T>(fn: () => T): T | null => {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof InvalidInput)) throw e;
      problems.push(...e.problems);
      return null;
    }
  };
  const networks = attempt(() => verifyNetworks(sections.networks));
  const responder = attempt(() => verifyResponder(sections));
  const features = new Map<string, FeatureRecord[]>();
  for (const f of FEATURES) {
    const records = attempt(() => f.verify(sections.features.get(f.kind) ?? [], { networks: networks ?? [], records: features }));
    features.set(f.kind, records ?? []);
  }
  if (problems.length > 0 || !networks || !responder) throw new InvalidInput(problems);
  return { networks, responder, features };
}

export function parseConfig(text: string, file: string): Network[] {
  return parseFullConfig(text, file).networks;
}

export function loadFullConfig(file: string = DEFAULT_CONFIG): Config {
  return parseFullConfig(readConfigText(file), file);
}

export function loadConfig(file: string = DEFAULT_CONFIG): Network[] {
  return loadFullConfig(file).networks;
}
