/**
 * Handlebars templates from templates/*.hbs. The release build embeds them (esbuild `define`), so the
 * single binary needs no files beside it; from the source tree they are read from templates/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type HandlebarsType from 'handlebars';

declare const VMROUTER_TEMPLATES: Record<string, string> | undefined;

function templatesDir(): string {
  let dir = resolve(process.cwd());
  for (;;) {
    if (existsSync(join(dir, 'templates', 'interfaces.hbs'))) return join(dir, 'templates');
    const up = dirname(dir);
    if (up === dir) throw new Error('templates/ not found (run from the source tree or use the built binary)');
    dir = up;
  }
}

function source(name: string): string {
  if (typeof VMROUTER_TEMPLATES !== 'undefined' && VMROUTER_TEMPLATES[name] !== undefined) return VMROUTER_TEMPLATES[name];
  return readFileSync(join(templatesDir(), `${name}.hbs`), 'utf8');
}

const compiled = new Map<string, HandlebarsType.TemplateDelegate>();
let handlebars: typeof HandlebarsType | null = null;

export async function renderTemplate(name: string, context: object): Promise<string> {
  let t = compiled.get(name);
  if (!t) {
    // loaded on first use: only `generate` renders, and hooks and `tap up` should start fast
    handlebars ??= (await import('handlebars')).default;
    t = handlebars.compile(source(name), { noEscape: true, strict: true });
    compiled.set(name, t);
  }
  return t(context);
}
