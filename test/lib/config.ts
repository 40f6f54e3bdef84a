/** vmrouter.conf text through the real loader, for unit tests of sections and features. */
import { InvalidInput } from '../../src/config/errors.js';
import { parseFullConfig } from '../../src/config/load.js';
import type { Network } from '../../src/model/network.js';

export const CONFIG_FILE = 'vmrouter.conf';

/** Every problem the loader reports, as `file:line: [section] key: …`; fails the test if it accepts the text. */
export function configProblems(text: string, file = CONFIG_FILE): string[] {
  try {
    parseFullConfig(text, file);
  } catch (e) {
    if (e instanceof InvalidInput) return e.problems.map(String);
    throw e;
  }
  throw new Error('the config was accepted');
}

/** The verified records of one feature kind (`[KIND NAME]` sections). */
export function featureRecords<R>(kind: string, text: string, file = CONFIG_FILE): R[] {
  return parseFullConfig(text, file).features.get(kind) as R[];
}

/** The verified routed networks of a config text. */
export const parseNetworks = (text: string, file = CONFIG_FILE): Network[] => featureRecords<Network>('network', text, file);
