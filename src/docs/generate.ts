/**
 * Writes the generated documentation (scripts/gen-docs.mjs bundles this and calls generate()):
 *   OUT/man/vmrouter.8, OUT/man/vmrouter.conf.5   manual pages
 *   OUT/completion/vmrouter                       bash completion
 *   OUT/etc/vmrouter.conf                         the example, commented out, installed as /etc/vmrouter/vmrouter.conf
 *   --markdown FILE                               docs/configuration.md
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProgram } from '../cli/main.js';
import { VERSION } from '../version.js';
import { renderBashCompletion } from './completion.js';
import { renderManPage5, renderManPage8 } from './man.js';
import { renderConfigMarkdown } from './markdown.js';

export const EXAMPLE = 'examples/vmrouter.conf';

/**
 * /etc/vmrouter/vmrouter.conf as installed: the example with every line commented out, so that
 * installing the package configures no network; the operator uncomments and adapts it.
 */
export function commentedExample(example: string): string {
  const head = [
    '; vmrouter configuration: see vmrouter.conf(5). Installing the package configures nothing:',
    '; uncomment and adapt the example below, then `vmrouter check` and `vmrouter generate`.',
    '',
  ];
  return head.join('\n') + example.split('\n').map((l) => (l === '' || l.startsWith(';') ? l : `; ${l}`)).join('\n');
}

function write(file: string, text: string): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
}

export function generate(out: string | null, markdown: string | null): void {
  const example = readFileSync(EXAMPLE, 'utf8');
  const program = buildProgram();
  if (out) {
    write(join(out, 'man', 'vmrouter.8'), renderManPage8(program, VERSION));
    write(join(out, 'man', 'vmrouter.conf.5'), renderManPage5(VERSION, example));
    write(join(out, 'completion', 'vmrouter'), renderBashCompletion(program));
    write(join(out, 'etc', 'vmrouter.conf'), commentedExample(example));
  }
  if (markdown) write(markdown, renderConfigMarkdown(example));
}

