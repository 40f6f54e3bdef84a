/**
 * The classic BPF program the responder's packet socket runs in the kernel, so only candidate frames
 * are copied to user space. Generated with
 *   tcpdump -dd 'ip6 and (icmp6[0] == 133 or icmp6[0] == 135) or (ip6 and udp dst port 547) or (ip and udp dst port 67)'
 * i.e. Router and Neighbour Solicitations, DHCPv6 to servers and DHCPv4 to servers, without IPv6
 * extension headers (the decoder drops those anyway). Instructions: [code, jt, jf, k].
 */
const PROGRAM: readonly (readonly [number, number, number, number])[] = [
  [0x28, 0, 0, 0x0000000c],
  [0x15, 0, 8, 0x000086dd],
  [0x30, 0, 0, 0x00000014],
  [0x15, 0, 3, 0x0000003a],
  [0x30, 0, 0, 0x00000036],
  [0x15, 12, 0, 0x00000085],
  [0x15, 11, 12, 0x00000087],
  [0x15, 0, 11, 0x00000011],
  [0x28, 0, 0, 0x00000038],
  [0x15, 8, 9, 0x00000223],
  [0x15, 0, 8, 0x00000800],
  [0x30, 0, 0, 0x00000017],
  [0x15, 0, 6, 0x00000011],
  [0x28, 0, 0, 0x00000014],
  [0x45, 4, 0, 0x00001fff],
  [0xb1, 0, 0, 0x0000000e],
  [0x48, 0, 0, 0x00000010],
  [0x15, 0, 1, 0x00000043],
  [0x06, 0, 0, 0x00040000],
  [0x06, 0, 0, 0x00000000],
];

/** struct sock_filter[] in host (little-endian) byte order, as SO_ATTACH_FILTER takes it. */
export function responderFilter(): Buffer {
  const b = Buffer.alloc(PROGRAM.length * 8);
  PROGRAM.forEach(([code, jt, jf, k], i) => {
    b.writeUInt16LE(code, i * 8);
    b.writeUInt8(jt, i * 8 + 2);
    b.writeUInt8(jf, i * 8 + 3);
    b.writeUInt32LE(k, i * 8 + 4);
  });
  return b;
}
