/**
 * The manuals, docs/configuration.md and the bash completion come from the command table and the
 * config schema (src/docs): every command, option and key must appear, groff must not complain, the
 * committed markdown must be current, and the completion must complete.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { buildProgram } from '../../src/cli/main.js';
import { SECTIONS } from '../../src/config/schema.js';
import { FEATURES } from '../../src/features/registry.js';
import { renderBashCompletion } from '../../src/docs/completion.js';
import { commentedExample } from '../../src/docs/generate.js';
import { commandPath, leafCommands, renderManPage5, renderManPage8 } from '../../src/docs/man.js';
import { renderConfigMarkdown } from '../../src/docs/markdown.js';
import { parseFullConfig } from '../../src/config/load.js';

const ROOT = join(import.meta.dirname, '..', '..');
const example = readFileSync(join(ROOT, 'examples', 'vmrouter.conf'), 'utf8');
const program = buildProgram();
const dir = t.testdir({});

/** What man shows, and what groff warned about (lintian's check: man --warnings). */
async function man(page: string, text: string): Promise<{ out: string; warnings: string }> {
  const file = join(dir, page);
  writeFileSync(file, text);
  const r = await execa('man', ['--warnings', '-E', 'UTF-8', '-l', file], { env: { LC_ALL: 'C.UTF-8', MANWIDTH: '80', MAN_KEEP_FORMATTING: '0' }, reject: false });
  return { out: r.stdout.replace(/.\x08/g, ''), warnings: r.stderr };
}

t.test('vmrouter(8) has every command and option of --help', async (t) => {
  const { out, warnings } = await man('vmrouter.8', renderManPage8(program, '1.2.3'));
  t.equal(warnings, '', 'groff has nothing to say');
  t.match(out, /vmrouter 1\.2\.3/, 'the version');
  const leaves = leafCommands(program);
  t.ok(leaves.length >= 14, `${leaves.length} commands`);
  for (const c of leaves) {
    t.ok(out.includes(commandPath(c)), `${commandPath(c)} is there`);
    for (const o of c.options) t.ok(out.includes(o.long!), `${commandPath(c)} ${o.long}`);
  }
  for (const o of program.options) t.ok(out.includes(o.long!), `global ${o.long}`);
  t.match(out, /EXIT STATUS[\s\S]*\b2\s+bad input/, 'exit codes');
});

t.test('vmrouter.conf(5) has every key of every section', async (t) => {
  const { out, warnings } = await man('vmrouter.conf.5', renderManPage5('1.2.3', example));
  t.equal(warnings, '', 'groff has nothing to say');
  for (const [name, s] of Object.entries(SECTIONS)) {
    t.match(out, new RegExp(`\\[${name.toUpperCase()}`), `[${name}]`);
    for (const k of s.keys) t.match(out, new RegExp(`\\n {7}${k.key}\\b`), `${name}.${k.key}`);
  }
  for (const f of FEATURES) {
    t.match(out, new RegExp(`\\[${f.kind.toUpperCase()} NAME\\]`), `[${f.kind} NAME]`);
    for (const k of f.keys) t.match(out, new RegExp(`\\n {7}${k.key}\\b`), `${f.kind}.${k.key}`);
  }
  t.match(out, /EXAMPLE[\s\S]*\[network public\]/, 'the example');
});

t.test('docs/configuration.md is generated from the schema (npm run docs)', async (t) => {
  t.equal(readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8'), renderConfigMarkdown(example), 'up to date');
});

t.test('the installed /etc example configures nothing, and uncommented is the example', async (t) => {
  const text = commentedExample(example);
  t.same(parseFullConfig(text, 'vmrouter.conf').features.get('network'), [], 'no network');
  const uncommented = text.split('\n').filter((l) => !l.startsWith('; vmrouter configuration') && !l.startsWith('; uncomment')).slice(1).map((l) => l.replace(/^; (?=[[a-z])/, '')).join('\n');
  t.equal(parseFullConfig(uncommented, 'vmrouter.conf').features.get('network')?.length, 1, 'the network comes back when uncommented');
});

t.test('bash completion completes commands, options and values', async (t) => {
  const file = join(dir, 'vmrouter.bash');
  writeFileSync(file, renderBashCompletion(program));
  t.equal((await execa('bash', ['-n', file], { reject: false })).exitCode, 0, 'valid bash');
  const conf = join(dir, 'c.conf');
  writeFileSync(conf, '[network public]\nrole = router\n[network  backup ]\n');
  /** COMPREPLY for a command line ending in the word being completed; _init_completion stubbed like bash-completion's */
  const complete = async (line: string[]) => {
    const script = `
_init_completion() { words=("\${COMP_WORDS[@]}"); cword=$COMP_CWORD; cur=\${words[cword]}; prev=\${words[cword-1]}; }
_filedir() { COMPREPLY=(FILES); }
. ${file}
COMP_WORDS=(${line.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${line.length - 1}
_vmrouter; printf '%s\\n' "\${COMPREPLY[@]}"`;
    return (await execa('bash', ['-c', script])).stdout.split('\n').filter(Boolean).sort();
  };
  t.same(await complete(['vmrouter', '']), ['check', 'doctor', 'down', 'frr', 'generate', 'hook', 'libvirt-hook', 'ndp', 'plan', 'reconcile', 'repair', 'status', 'tap', 'up', 'vnet', 'vrf'].sort(), 'commands');
  t.same(await complete(['vmrouter', 'vrf', '']), ['drop-in', 'exec'], 'vrf subcommands');
  t.same(await complete(['vmrouter', 'tap', '']), ['down', 'sync', 'up'], 'tap subcommands');
  t.same(await complete(['vmrouter', '--config', conf, 'plan', 'tap', '']), ['down', 'sync', 'up'], 'past an option value');
  t.same(await complete(['vmrouter', 'generate', '--style', '']), ['compact', 'expanded'], 'choices');
  t.same(await complete(['vmrouter', '--config', '']), ['FILES'], 'files');
  t.same(await complete(['vmrouter', '--config', conf, 'tap', 'up', '--network', '']), ['backup', 'public'], 'network names from --config');
  t.same(await complete(['vmrouter', '-c', conf, 'up', '']), ['backup', 'public'], 'network arguments');
  t.ok((await complete(['vmrouter', 'tap', 'up', '--t'])).includes('--tap'), 'options');
  t.ok((await complete(['vmrouter', 'tap', 'up', '--tap', ''])).includes('lo'), 'interfaces');
});
