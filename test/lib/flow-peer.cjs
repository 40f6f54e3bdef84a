// Identity peers for tenant-isolation tests (plain CommonJS: runs with the node binary alone).
// Every answer repeats what the client sent, so a client that receives another client's answer
// shows it, and names the source the server saw, so the test knows which NAT path it took.
//   udp-serve PORT                                     answer each datagram "PAYLOAD saw ADDR:PORT"
//   tcp-serve PORT                                     answer each connection's first line the same way, keep it open
//   udp-client HOST PORT LADDR LPORT PAYLOAD DELAYMS WAITMS
//                                                      after DELAYMS send PAYLOAD from LADDR:LPORT, print every answer for WAITMS
//   tcp-client HOST PORT LADDR LPORT PAYLOAD           connect from LADDR:LPORT, send PAYLOAD, print the answer, hold the
//                                                      connection until standard input closes
'use strict';
const dgram = require('node:dgram');
const net = require('node:net');
const [mode, ...args] = process.argv.slice(2);

const fail = (message) => {
  process.stderr.write(`${message}\n`);
  process.exit(1);
};

if (mode === 'udp-serve') {
  const s = dgram.createSocket('udp4');
  s.on('message', (msg, rinfo) => s.send(`${msg.toString().trim()} saw ${rinfo.address}:${rinfo.port}\n`, rinfo.port, rinfo.address));
  s.bind(Number(args[0]), '0.0.0.0', () => process.stdout.write('listening\n'));
} else if (mode === 'tcp-serve') {
  const srv = net.createServer((c) => {
    c.on('error', () => {});
    let got = '';
    c.on('data', (d) => {
      const had = got.includes('\n');
      got += d;
      if (!had && got.includes('\n')) c.write(`${got.split('\n')[0]} saw ${c.remoteAddress}:${c.remotePort}\n`);
    });
  });
  srv.listen(Number(args[0]), '0.0.0.0', () => process.stdout.write('listening\n'));
} else if (mode === 'udp-client') {
  const [host, port, laddr, lport, payload, delay, wait] = args;
  const s = dgram.createSocket('udp4');
  s.on('message', (msg) => process.stdout.write(msg.toString()));
  s.on('error', (e) => fail(e.message));
  s.bind(Number(lport), laddr, () => {
    setTimeout(() => s.send(`${payload}\n`, Number(port), host), Number(delay));
    setTimeout(() => s.close(), Number(delay) + Number(wait));
  });
} else if (mode === 'tcp-client') {
  const [host, port, laddr, lport, payload] = args;
  const c = net.connect({ host, port: Number(port), localAddress: laddr, localPort: Number(lport) });
  let got = '';
  c.on('connect', () => c.write(`${payload}\n`));
  c.on('data', (d) => {
    const had = got.includes('\n');
    got += d;
    if (!had && got.includes('\n')) {
      process.stdout.write(got);
      process.stdin.resume();
      process.stdin.on('end', () => c.end());
    }
  });
  c.on('error', (e) => fail(e.message));
  c.on('close', () => process.exit(got.includes('\n') ? 0 : 1));
  c.setTimeout(15000, () => fail('timeout'));
} else {
  fail('usage: flow-peer.cjs udp-serve PORT | tcp-serve PORT | udp-client … | tcp-client …');
}
