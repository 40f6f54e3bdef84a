/**
 * Twin networks on this machine's kernel (no CONFIG_NET_VRF): the policy-routing variant, seed 000's
 * topology with real ifup/ifdown of `vmrouter generate` stanzas in a middle-node namespace.
 * The same scenario runs with real VRF devices and an 802.1Q side in the kernel lab (twin-vrf.test.ts).
 */
import t from 'tap';
import { detectKernel } from '../../src/exec/kernel.js';
import { runTwinScenario } from '../lib/twin-lab.js';

t.test('twin networks, policy-routing variant, host kernel', async (t) => {
  await runTwinScenario((ok, name, detail) => {
    if (!t.ok(ok, name) && detail) t.comment(detail);
  }, {
    prefix: 'tw-p-',
    vlan: false,
    // explicit, so this stays the policy variant's proof on a kernel with VRF too; `check` must
    // still say what auto would pick here
    variant: 'policy',
    expectVariant: detectKernel().vrf ? 'vrf' : 'policy',
    strictRpFilter: true,
  });
});
