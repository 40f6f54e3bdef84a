/**
 * The binary's surface (issue 5): no arguments prints help; --version the build's version; every
 * error one line on stderr with a non-zero exit and no stack trace (unless --debug).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ROOT, vmrouter } from '../lib/vmrouter.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

t.test('no arguments: help on stdout, exit 0', async (t) => {
  const r = await vmrouter([]);
  t.equal(r.code, 0);
  t.match(r.stdout, /^Usage: vmrouter \[options\] \[command\]/);
  t.match(r.stdout, /Exit status:\n {2}0 /, 'exit codes in the help');
  t.equal(r.stderr, '');
});

t.test('--version prints the version the build was given', async (t) => {
  const r = await vmrouter(['--version']);
  t.equal(r.stdout.trim(), process.env.VMROUTER_VERSION ?? pkg.version);
});

t.test('debian/changelog and package.json agree on the version', async (t) => {
  const deb = /^vmrouter \(([^)]+)\)/.exec(readFileSync(join(ROOT, 'debian', 'changelog'), 'utf8'))![1]!;
  t.equal(deb.replace(/-[^-]+$/, ''), pkg.version, `debian/changelog ${deb}`);
});

const errors: [string, string[], RegExp][] = [
  ['unknown command', ['frobnicate'], /^vmrouter: unknown command 'frobnicate'.*\(run vmrouter --help for usage\)$/],
  ['unknown option', ['--frob'], /^vmrouter: unknown option '--frob' \(run vmrouter --help for usage\)$/],
  ['unknown subcommand option', ['status', '--frob'], /^vmrouter: unknown option '--frob' \(run vmrouter status --help for usage\)$/],
  ['bad choice', ['generate', '--style', 'x'], /^vmrouter: option '--style <style>' argument 'x' is invalid/],
  ['missing value', ['--config'], /^vmrouter: option '-c, --config <file>' argument missing/],
  ['group without command', ['tap'], /^vmrouter: tap: missing command: up, down or sync \(run vmrouter tap --help for usage\)$/],
  ['group with unknown command', ['plan', 'frob'], /^vmrouter: plan: unknown command "frob": up, down, ifup, ifdown, tap or vnet/],
  ['missing config file', ['--config', '/nonexistent/vmrouter.conf', 'check'], /^vmrouter: \/nonexistent\/vmrouter\.conf: \(file\): cannot read: no such file$/],
  ['config is a directory', ['--config', '/', 'check'], /^vmrouter: \/: \(file\): cannot read: /],
  ['tap up outside Ganeti', ['tap', 'up'], /^vmrouter: no --tap given and INTERFACE is not set/],
  ['vrf exec of an unknown VRF', ['--config', 'examples/vmrouter.conf', 'vrf', 'exec', 'nope', '--', 'true'], /^vmrouter: examples\/vmrouter\.conf: no \[vrf nope\] section$/],
  ['vrf exec without a command', ['--config', 'examples/vmrouter.conf', 'vrf', 'exec', 'nope'], /^vmrouter: missing required argument 'command' \(run vmrouter vrf exec --help for usage\)$/],
  ['vrf drop-in without --unit', ['vrf', 'drop-in', 'blue', '--', 'true'], /^vmrouter: required option '--unit <unit>' not specified/],
  ['vrf without a command', ['vrf'], /^vmrouter: vrf: missing command: exec or drop-in/],
  ['unreadable bindings', ['--config', '/dev/null', 'tap', 'sync', '--network', 'public', '--from', '/nonexistent'], /^vmrouter: /],
];

t.test('every error: one line, exit 2, no stack trace', async (t) => {
  for (const [what, args, message] of errors) {
    const r = await vmrouter(args, { ok: false, env: { INTERFACE: undefined } });
    t.equal(r.code, 2, `${what}: exit 2`);
    t.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line (${r.stderr.trim()})`);
    t.match(r.stderr.trim(), message, `${what}: the message`);
    t.equal(r.stdout, '', `${what}: nothing on stdout`);
  }
});

t.test('--debug adds the stack trace of a failure', async (t) => {
  // a file that cannot be written: a host failure (exit 1), not bad input
  const args = ['--config', join(ROOT, 'examples', 'vmrouter.conf'), 'generate', '--out', '/nonexistent-dir/interfaces'];
  const plain = await vmrouter(args, { ok: false });
  t.equal(plain.code, 1, 'fails with 1');
  t.equal(plain.stderr.trim().split('\n').length, 1, `one line: ${plain.stderr.trim()}`);
  const debug = await vmrouter(['--debug', ...args], { ok: false });
  t.match(debug.stderr, /\n\s+at /, 'stack trace with --debug');
});
