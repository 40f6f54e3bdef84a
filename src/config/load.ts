/** load: vmrouter.conf → verified networks. */
import { readFileSync } from 'node:fs';
import type { Network } from '../model/network.js';
import { verifyNetworks } from '../model/verify.js';
import { InputError, InvalidInput } from './errors.js';
import { loadIni } from './ini.js';

export const DEFAULT_CONFIG = '/etc/vmrouter/vmrouter.conf';

export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw new InvalidInput([new InputError({ file, section: '(file)' }, `cannot read: ${reason}`)]);
  }
}

export function parseConfig(text: string, file: string): Network[] {
  return verifyNetworks(loadIni(text, file));
}

export function loadConfig(file: string = DEFAULT_CONFIG): Network[] {
  return parseConfig(readConfigText(file), file);
}
