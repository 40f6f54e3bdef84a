/**
 * `vmrouter ndp`: the long-running responder. It owns no kernel state: it watches the ledger that
 * `tap up`/`tap down`/`tap sync` write, listens on one packet socket for the solicitations of bound
 * TAPs, and answers them (respond.ts decides what). It only ever gets copies of packets, so when it
 * is stopped VM traffic flows exactly as before: nothing waits for it (unlike nfdhcpd's NFQUEUE).
 *
 * Timing follows RFC 4861 §6.2.4-6.2.6: on bind, an RA at once and two more at most 16 s apart, then
 * one every MinRtrAdvInterval..MaxRtrAdvInterval; a solicited RA after a random 0..solicited_ra_delay
 * ms; multicast RAs on a TAP at most one per MIN_DELAY_BETWEEN_RAS (3 s); a final RA with router
 * lifetime 0 when a TAP is unbound or the daemon stops.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { Network } from '../model/network.js';
import { LedgerStore } from '../exec/ledger.js';
import { loadPacketAddon, type PacketAddon } from '../native/packet.js';
import type { ResponderConfig } from './config.js';
import { decodeFrame } from './decode.js';
import { duidUuid } from './encode.js';
import { responderFilter } from './filter.js';
import { raFor, respond } from './respond.js';
import { buildServices, sysfsLinks, type LinkReader, type TapService } from './services.js';

const MAX_INITIAL_RTR_ADVERT_INTERVAL = 16_000;
const MAX_INITIAL_RTR_ADVERTISEMENTS = 3;
const MIN_DELAY_BETWEEN_RAS = 3_000;
/** processing-time samples kept for the stats (a ring: memory stays bounded under a flood) */
const SAMPLES = 20_000;

export interface DaemonOptions {
  stateDir: string;
  store: LedgerStore;
  /** vmrouter.conf: the responder's sections, and networks that only expanded stanzas brought up */
  loadConfig: () => { networks: Network[]; responder: ResponderConfig };
  log: (line: string) => void;
  verbose?: boolean;
  links?: LinkReader;
  addon?: PacketAddon;
}

interface TapState {
  service: TapService;
  /** encoded RAs by destination: a solicitation is answered without encoding anything */
  raCache: Map<string, Buffer | null>;
  /** periodic (unsolicited) RA */
  timer?: NodeJS.Timeout;
  initialLeft: number;
  llCheckedAt: number;
  /** at most one pending solicited RA per TAP: a flood of RS is answered by one RA, not queued */
  pending?: NodeJS.Timeout;
  lastMulticast: number;
}

export interface Stats {
  received: Record<string, number>;
  sent: Record<string, number>;
  errors: number;
  socket: { received: number; dropped: number };
  /** ms of the responder's own work per answered solicitation (the chosen RFC delay excluded) */
  processing: { count: number; p50: number; p99: number; max: number };
  /** solicited unicast RAs: the longest from the kernel's receipt of the RS to the RA, and how many exceeded solicited_ra_delay */
  solicited: { maxMs: number; late: number };
  taps: number;
}

/** A server DUID that survives restarts (nfdhcpd made a new one per reply): DUID-UUID of /etc/machine-id. */
export function stableDuid(): Buffer {
  let id = '';
  try {
    id = readFileSync('/etc/machine-id', 'utf8').trim();
  } catch {
    /* none: fall back to the host name */
  }
  const hex = /^[0-9a-f]{32}$/.test(id) ? id : createHash('sha256').update(`vmrouter:${readFileSync('/proc/sys/kernel/hostname', 'utf8').trim()}`).digest('hex').slice(0, 32);
  return duidUuid(Buffer.from(hex, 'hex'));
}

export class ResponderDaemon {
  private taps = new Map<number, TapState>();
  private config: ResponderConfig;
  private networks: Network[];
  private watcher: FSWatcher | null = null;
  private poll: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private lastLedger = '';
  private readonly duid = stableDuid();
  private readonly addon: PacketAddon;
  private readonly links: LinkReader;
  private samples: number[] = [];
  private sampleAt = 0;
  private readonly counters = { received: {} as Record<string, number>, sent: {} as Record<string, number>, errors: 0 };
  private socketTotals = { received: 0, dropped: 0 };

  constructor(private readonly opts: DaemonOptions) {
    ({ responder: this.config, networks: this.networks } = opts.loadConfig());
    this.addon = opts.addon ?? loadPacketAddon();
    this.links = opts.links ?? sysfsLinks;
  }

  start(): void {
    this.addon.listen(responderFilter(), (ifindex, pkttype, frame, checksumTrusted, receivedMs) => this.onFrame(ifindex, pkttype, frame, checksumTrusted, receivedMs));
    mkdirSync(this.opts.stateDir, { recursive: true });
    // `tap up` replaces ledger.json by rename: a directory watch sees it at once
    this.watcher = watch(this.opts.stateDir, (_event, file) => {
      if (file === 'ledger.json') this.scheduleReload();
    });
    this.poll = setInterval(() => this.scheduleReload(), 5_000); // in case an event was missed
    this.reload();
    this.opts.log(`listening; serving ${this.taps.size} TAP${this.taps.size === 1 ? '' : 's'}`);
  }

  /** Final RAs with router lifetime 0 on every TAP, then let go of everything. */
  stop(): void {
    for (const state of this.taps.values()) this.farewell(state);
    this.taps.clear();
    this.addon.stop();
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
  }

  reloadConfig(): void {
    ({ responder: this.config, networks: this.networks } = this.opts.loadConfig());
    for (const state of this.taps.values()) state.raCache.clear();
    this.lastLedger = '';
    this.reload();
  }

  private scheduleReload(): void {
    if (this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = null;
      this.reload();
    }, 10);
  }

  /** Re-reads the ledger's index; greets new TAPs, says goodbye to unbound ones. */
  reload(): void {
    let stamp = '';
    try {
      const st = statSync(this.opts.store.file);
      stamp = `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      stamp = 'none';
    }
    if (stamp === this.lastLedger) return;
    this.lastLedger = stamp;
    let services: Map<number, TapService>;
    try {
      services = buildServices(this.opts.store.load({ owners: [] }), this.networks, this.links);
    } catch (e) {
      this.counters.errors++;
      this.opts.log(`cannot read the ledger: ${(e as Error).message}`);
      return;
    }
    for (const [ifindex, state] of this.taps) {
      const now = services.get(ifindex);
      if (!now || JSON.stringify(now.binding) !== JSON.stringify(state.service.binding) || now.network.name !== state.service.network.name) {
        this.farewell(state);
        this.taps.delete(ifindex);
      } else {
        state.service = now; // MAC or link-local may have changed
        state.raCache.clear();
      }
    }
    for (const [ifindex, service] of services) {
      if (this.taps.has(ifindex)) continue;
      const state: TapState = { service, raCache: new Map(), initialLeft: MAX_INITIAL_RTR_ADVERTISEMENTS, lastMulticast: 0, llCheckedAt: 0 };
      this.taps.set(ifindex, state);
      this.unsolicited(state);
    }
  }

  private send(state: TapState, kind: string, frame: Buffer): boolean {
    try {
      this.addon.send(state.service.ifindex, frame);
      this.counters.sent[kind] = (this.counters.sent[kind] ?? 0) + 1;
      return true;
    } catch (e) {
      // one TAP gone does not stop the others (nfdhcpd aborted a whole round)
      this.counters.errors++;
      if (this.opts.verbose) this.opts.log(`${state.service.tap}: ${(e as Error).message}`);
      return false;
    }
  }

  /** An unsolicited RA now, and the next one scheduled. */
  private unsolicited(state: TapState): void {
    clearTimeout(state.timer);
    if (!this.config.ndp.enabled || !state.service.network.v6) return;
    if (!state.service.tapLinkLocal) {
      // the TAP is still doing DAD on its link-local: try again shortly
      state.timer = setTimeout(() => this.refreshLinkLocal(state, true), 500);
      return;
    }
    const frame = raFor(state.service, this.config, null);
    if (frame && this.send(state, 'ra', frame)) state.lastMulticast = Date.now();
    const { minInterval, maxInterval } = this.config.ndp;
    let next = (minInterval + Math.random() * (maxInterval - minInterval)) * 1000;
    if (state.initialLeft > 1) next = Math.min(next, MAX_INITIAL_RTR_ADVERT_INTERVAL);
    state.initialLeft = Math.max(0, state.initialLeft - 1);
    state.timer = setTimeout(() => this.unsolicited(state), next);
  }

  private refreshLinkLocal(state: TapState, force = false): void {
    // at most every 500 ms per TAP, whatever a VM sends meanwhile (reading /proc/net/if_inet6 is O(links))
    const now = Date.now();
    if (!force && now - state.llCheckedAt < 500) return;
    state.llCheckedAt = now;
    const ll = this.links.linkLocals().get(state.service.ifindex);
    if (ll) state.service = { ...state.service, tapLinkLocal: ll };
    state.raCache.clear();
    this.unsolicited(state);
  }

  private farewell(state: TapState): void {
    clearTimeout(state.timer);
    clearTimeout(state.pending);
    if (!state.service.network.v6 || !this.config.ndp.enabled) return;
    const frame = raFor(state.service, this.config, null, 0);
    if (frame) this.send(state, 'ra', frame);
  }

  onFrame(ifindex: number, _pkttype: number, frame: Buffer, checksumTrusted = false, receivedMs = 0): void {
    const t0 = performance.now();
    // how long the frame waited in the socket queue (a burst of 1000 VMs booting): taken off the delay
    const age = receivedMs > 0 ? Math.max(0, Date.now() - receivedMs) : 0;
    const state = this.taps.get(ifindex);
    if (!state) {
      this.counters.received.unbound = (this.counters.received.unbound ?? 0) + 1;
      return;
    }
    let inbound;
    try {
      inbound = decodeFrame(frame, checksumTrusted);
    } catch {
      inbound = null; // decodeFrame does not throw; this is belt and braces against a crash
    }
    if (!inbound) {
      this.counters.received.malformed = (this.counters.received.malformed ?? 0) + 1;
      return;
    }
    this.counters.received[inbound.kind] = (this.counters.received[inbound.kind] ?? 0) + 1;
    // the TAP's link-local was still in DAD: look again (an RA to all nodes follows once it is there)
    if ((inbound.kind === 'ns' || inbound.kind === 'rs') && !state.service.tapLinkLocal) this.refreshLinkLocal(state);
    for (const reply of respond(inbound, state.service, this.config, this.duid, Math.random, (service, config, dst) => this.cachedRa(state, service, config, dst))) {
      if (reply.delay === 0 && !reply.multicast) {
        if (this.send(state, reply.kind, reply.frame)) this.sample(performance.now() - t0);
        continue;
      }
      if (state.pending) continue; // one solicited RA answers every solicitation until it goes out
      // multicast RAs: at most one per MIN_DELAY_BETWEEN_RAS on this TAP
      const earliest = reply.multicast ? state.lastMulticast + MIN_DELAY_BETWEEN_RAS - Date.now() : 0;
      const handled = performance.now() - t0;
      state.pending = setTimeout(() => {
        state.pending = undefined;
        const t1 = performance.now();
        if (this.send(state, reply.kind, reply.frame)) {
          this.sample(handled + performance.now() - t1);
          if (receivedMs > 0 && !reply.multicast) this.solicited(Date.now() - receivedMs);
          if (reply.multicast) state.lastMulticast = Date.now();
        }
      }, Math.max(reply.delay - age, earliest, 0));
    }
  }

  private cachedRa(state: TapState, service: TapService, config: ResponderConfig, dst: { ip: string; mac: string } | null): Buffer | null {
    const key = dst ? `${dst.ip} ${dst.mac}` : '';
    let frame = state.raCache.get(key);
    if (frame === undefined) {
      // a VM that keeps changing its source address must not grow this without bound
      if (state.raCache.size >= 8) state.raCache.clear();
      frame = raFor(service, config, dst);
      state.raCache.set(key, frame);
    }
    return frame;
  }

  /** kernel receipt of a solicitation → its RA sent, in ms (RFC 4861 6.2.6 window: MAX_RA_DELAY_TIME) */
  private solicitedMax = 0;
  private solicitedLate = 0;
  private solicited(ms: number): void {
    this.solicitedMax = Math.max(this.solicitedMax, ms);
    if (ms > this.config.ndp.solicitedRaDelay) this.solicitedLate++;
  }

  private sample(ms: number): void {
    if (this.samples.length < SAMPLES) this.samples.push(ms);
    else this.samples[this.sampleAt++ % SAMPLES] = ms;
  }

  stats(): Stats {
    const s = this.addon.stats();
    this.socketTotals.received += s.received;
    this.socketTotals.dropped += s.dropped;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]! : 0);
    return {
      received: { ...this.counters.received },
      sent: { ...this.counters.sent },
      errors: this.counters.errors,
      socket: { ...this.socketTotals },
      processing: { count: sorted.length, p50: at(50), p99: at(99), max: sorted.at(-1) ?? 0 },
      solicited: { maxMs: this.solicitedMax, late: this.solicitedLate },
      taps: this.taps.size,
    };
  }

  /** Written on SIGUSR1 (and at exit) for operators and bench/. */
  writeStats(): string {
    const file = join(this.opts.stateDir, 'ndp-stats.json');
    writeFileSync(file, JSON.stringify(this.stats(), null, 1) + '\n');
    return file;
  }
}
