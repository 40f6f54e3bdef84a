/** One VM NIC bound to a network through its TAP (what `vmrouter tap up` applies). */
export interface TapBinding {
  network: string;
  tap: string;
  /** the VM's MAC, when known (EUI-64 addresses, the responder's bindings) */
  mac: string | null;
  ips: string[];
  ip6s: string[];
  /** given to the VM by the DHCPv4 responder (Ganeti's INSTANCE, or --hostname) */
  hostname?: string | null;
}
