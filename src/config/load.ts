/** load: vmrouter.conf → verified records of every feature (routed networks among them) and the responder's configuration. */
import { readFileSync } from 'node:fs';
import { verifyResponder, type ResponderConfig } from '../ndp/config.js';
import type { FeatureRecord } from '../features/feature.js';
import { FEATURES } from '../features/registry.js';
import { InputError, InvalidInput } from './errors.js';
import { loadIniSections } from './ini.js';

export const DEFAULT_CONFIG = '/etc/vmrouter/vmrouter.conf';

export interface Config {
  responder: ResponderConfig;
  /** records of the registered features, by kind (every kind present, possibly empty); routed networks: model/network.ts networksIn */
  features: Map<string, FeatureRecord[]>;
  /** what was accepted but is ignored, as file:line: [section] key: why */
  warnings: InputError[];
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
  const responder = attempt(() => verifyResponder(sections));
  const features = new Map<string, FeatureRecord[]>();
  const warnings: InputError[] = [];
  for (const f of FEATURES) {
    const records = attempt(() => f.verify(sections.features.get(f.kind) ?? [], { records: features, warnings }));
    features.set(f.kind, records ?? []);
  }
  if (problems.length > 0 || !responder) throw new InvalidInput(problems);
  return { responder, features, warnings };
}

export function loadFullConfig(file: string = DEFAULT_CONFIG): Config {
  return parseFullConfig(readConfigText(file), file);
}
