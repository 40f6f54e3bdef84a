import { execFileSync } from 'node:child_process';
import t from 'tap';
import { shellLine, shellWord } from '../../src/render/shell.js';

t.test('plain words are left alone', async (t) => {
  for (const w of ['ip', '-4', 'route', '192.0.2.0/24', 'net/ipv4/conf/eth0.222/proxy_arp=1', 'fe80::1', 'a@b', '100%', 'a+b,c', '_x']) {
    t.equal(shellWord(w), w, w);
  }
});

t.test('everything else is single-quoted', async (t) => {
  t.equal(shellWord('two words'), "'two words'");
  t.equal(shellWord(''), "''", 'an empty word stays a word');
  t.equal(shellWord('{ "tap1" : 222 }'), `'{ "tap1" : 222 }'`);
  t.equal(shellWord('a;b'), "'a;b'");
  t.equal(shellWord('$HOME'), "'$HOME'");
  t.equal(shellWord('`id`'), "'`id`'");
  t.equal(shellWord('*'), "'*'");
  t.equal(shellWord('~root'), "'~root'");
  t.equal(shellWord('a\nb'), "'a\nb'");
  t.equal(shellWord('a\\b'), "'a\\b'");
});

t.test('single quotes are closed, double-quoted and reopened (no backslash: ifupdown2 drops them)', async (t) => {
  t.equal(shellWord("it's"), `'it'"'"'s'`);
  t.equal(shellWord("'"), `''"'"''`);
});

t.test('shellLine joins quoted words', async (t) => {
  t.equal(
    shellLine(['nft', 'add element inet vmrouter taps { "tap1" }; add rule x']),
    `nft 'add element inet vmrouter taps { "tap1" }; add rule x'`,
  );
  t.equal(shellLine(['sysctl', '-q', '-w', 'net/ipv4/conf/eth0.222/forwarding=1']), 'sysctl -q -w net/ipv4/conf/eth0.222/forwarding=1');
  t.equal(shellLine([]), '');
});

t.test('a POSIX shell reads the words back unchanged', async (t) => {
  const argv = ['plain', 'two words', "it's", '{ "a" }', 'a;b', '$HOME', '`id`', '', 'a\nb', "''", '*'];
  const out = execFileSync('/bin/sh', ['-c', `for a in ${shellLine(argv)}; do printf '%s\\0' "$a"; done`], { encoding: 'utf8' });
  t.strictSame(out.split('\0').slice(0, -1), argv);
});
