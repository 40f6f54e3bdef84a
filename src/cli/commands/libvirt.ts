/**
 * `vmrouter libvirt-hook`: run by libvirt's qemu hook (examples/libvirt/qemu, installed as
 * /etc/libvirt/hooks/qemu.d/vmrouter) as `DOMAIN OPERATION SUB-OPERATION EXTRA` with the domain XML
 * on stdin (https://libvirt.org/hooks.html). What each call does, and why:
 * - `prepare begin`: checks the domain's vmrouter NICs against the configuration; an error makes
 *   libvirt refuse the start, before qemu runs, with vmrouter's message.
 * - `started begin`: qemu runs and libvirt has made the TAPs (and named them in the XML): binds
 *   every NIC in one transaction. A failure makes libvirt stop the domain (`stopped end` follows).
 * - `reconnect begin` (libvirtd restarted, the domain still running): binds again, which repairs
 *   what drifted; always exits 0, because a non-zero status there makes libvirt kill the VM.
 * - `stopped end`, `release end`: unbinds each NIC, by TAP or, when libvirt no longer names the TAP
 *   it chose (vnetN), by MAC; the second call finds nothing left to do.
 * Every other call (migrate, restore, attach...) does nothing and prints nothing: for migrate and
 * restore libvirt takes what the hook prints as the new domain XML.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { UsageError } from '../../config/errors.js';
import { domainNics, domainTapRequest, type DomainNics } from '../../model/libvirt-domain.js';
import { resolveNetwork } from '../../model/tap-request.js';
import type { Context } from '../context.js';
import { networksUp } from '../operations.js';
import { tapDownByMacOp, tapDownOp, tapUpOp } from '../tap-operations.js';

/** the calls vmrouter acts on, as "OPERATION SUB-OPERATION" */
const BIND = new Set(['started begin', 'reconnect begin']);
const UNBIND = new Set(['stopped end', 'release end']);
const CHECK = 'prepare begin';

export function libvirtCommand(ctx: () => Context): Command {
  return new Command('libvirt-hook')
    .description('run by libvirt\'s qemu hook with the domain XML on stdin: binds the domain\'s routed NICs when it has started, unbinds them when it has stopped')
    .argument('<domain>', 'the domain\'s name')
    .argument('<operation>', 'libvirt\'s operation: prepare, started, reconnect, stopped, release (others: nothing)')
    .argument('<sub-operation>', 'begin or end')
    .argument('[extra]', 'libvirt\'s extra argument, unused')
    .action(async (domain: string, operation: string, sub: string) => {
      const c = ctx();
      const call = `${operation} ${sub}`;
      // read stdin whatever the call, so that libvirt never writes into a closed pipe
      const xml = readFileSync(0, 'utf8');
      if (!BIND.has(call) && !UNBIND.has(call) && call !== CHECK) return;
      let d: DomainNics;
      try {
        d = domainNics(xml, `libvirt ${call} of ${domain}: domain XML on stdin`);
      } catch (e) {
        if (call === 'reconnect begin') return report(c, e);
        throw e;
      }
      if (d.nics.length === 0) return; // not a domain of vmrouter's
      if (call === CHECK) {
        const known = [...networksUp(c.runner.store.load()), ...c.networksIfConfigured()];
        for (const nic of d.nics) resolveNetwork({ network: nic.network, link: null, tap: '', mac: nic.mac, ips: [], ip6s: [], claims: [], labels: { tap: '', mac: '', ip: '', ip6: '', network: `domain ${d.domain} NIC ${nic.mac}: network` } }, known);
        return;
      }
      if (UNBIND.has(call)) {
        await c.run(d.nics.map((nic) => (nic.tap !== null ? tapDownOp(nic.tap, nic.network) : tapDownByMacOp(nic.mac, nic.network))));
        return;
      }
      try {
        await c.run(d.nics.map((nic) => tapUpOp(c.host, domainTapRequest(d, nic), () => c.networksIfConfigured())));
        if (c.globals.verbose) c.err(`vmrouter: domain ${d.domain}: bound ${d.nics.map((n) => n.tap).join(', ')}\n`);
      } catch (e) {
        if (call === 'reconnect begin') return report(c, e);
        throw e;
      }
    });
}

/** At reconnect an error is told, never returned: libvirt would kill the running domain. */
function report(c: Context, e: unknown): void {
  if (!(e instanceof Error)) throw e;
  c.err(`vmrouter: ${e instanceof UsageError ? '' : 'reconnect: '}${e.message.split('\n').join('\nvmrouter: ')} (the domain keeps running; vmrouter repair after fixing it)\n`);
}
