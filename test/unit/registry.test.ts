/** The feature registry's invariants: every kind is reachable as a section and a stanza option, and none shadows another. */
import t from 'tap';
import { SECTIONS } from '../../src/config/schema.js';
import { NETWORK_KEYS } from '../../src/features/network-keys.js';
import { FEATURES, featureEnvVar, featureOf, featureOwner } from '../../src/features/registry.js';

t.test('feature kinds are one lower-case word, unique, and clash with no section or network option', async (t) => {
  const kinds = FEATURES.map((f) => f.kind);
  t.same([...new Set(kinds)], kinds, 'unique kinds');
  for (const f of FEATURES) {
    t.match(f.kind, /^[a-z][a-z0-9-]*$/, `${f.kind}: one lower-case word`);
    t.notOk(f.kind in SECTIONS, `${f.kind}: not a fixed section`);
    t.notOk(NETWORK_KEYS.some((k) => k.key.replace(/_/g, '-') === f.kind), `vmrouter-${f.kind}: not a network option`);
    t.ok(f.summary.endsWith('.'), `${f.kind}: summary is a sentence`);
    t.equal(featureOf(f.kind), f);
  }
});

t.test('stanza variable and ledger owner', async (t) => {
  t.equal(featureEnvVar('twin'), 'IF_VMROUTER_TWIN');
  t.equal(featureEnvVar('nat-pair'), 'IF_VMROUTER_NAT_PAIR', 'ifupdown turns - into _');
  t.equal(featureOwner('twin', 'inner-outer', 'eth1'), 'twin:inner-outer@eth1');
  t.equal(featureOf('no-such-kind'), undefined);
});
