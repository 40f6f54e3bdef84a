/**
 * Runs inside the kernel lab (bundled by kernel-lab.ts bundle()): seed 000 with real VRF devices and
 * a real 802.1Q outer side, the policy-routing variant on the same kernel, then standalone [vrf]
 * sections (vrf-lab.ts) — three scenarios, one boot. Each check is one `CHECK {json}` line on standard output for the host's tap test.
 */
import { runTwinScenario, type Check } from '../twin-lab.js';
import { runVrfScenario } from '../vrf-lab.js';

const scenario = (label: string): Check => (ok, name, detail) => {
  process.stdout.write(`CHECK ${JSON.stringify({ ok, name: `${label}: ${name}`, ...(ok ? {} : { detail }) })}\n`);
};

const t0 = Date.now();
await runTwinScenario(scenario('vrf, VLAN outer side'), { prefix: 'tw-v-', vlan: true, variant: 'auto', expectVariant: 'vrf' });
process.stdout.write(`TIME vrf ${(Date.now() - t0) / 1000}\n`);
const t1 = Date.now();
await runTwinScenario(scenario('policy on the Debian kernel'), { prefix: 'tw-q-', vlan: false, variant: 'policy', expectVariant: 'vrf' });
process.stdout.write(`TIME policy ${(Date.now() - t1) / 1000}\n`);
const t2 = Date.now();
await runVrfScenario(scenario('[vrf] sections'), 'tw-r-');
process.stdout.write(`TIME vrf-sections ${(Date.now() - t2) / 1000}\n`);
