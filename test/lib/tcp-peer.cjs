// A TCP peer for the twin tests (plain CommonJS: runs with the node binary alone, also in the kernel lab).
//   serve PORT                         tell every client "ADDRESS PORT" as seen here; keep it open until it closes
//   connect HOST PORT LOCALPORT HOLDMS connect from LOCALPORT, hold the connection HOLDMS, print what the server saw
'use strict';
const net = require('node:net');
const [mode, ...args] = process.argv.slice(2);
if (mode === 'serve') {
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    s.write(`${s.remoteAddress} ${s.remotePort}\n`);
  });
  srv.listen(Number(args[0]), '0.0.0.0', () => process.stdout.write('listening\n'));
} else if (mode === 'connect') {
  const [host, port, localPort, hold] = args;
  const s = net.connect({ host, port: Number(port), localPort: Number(localPort) });
  let got = '';
  s.on('data', (d) => {
    const had = got.includes('\n');
    got += d;
    if (had || !got.includes('\n')) return;
    // the connection stays established for HOLDMS, then closes from this side
    setTimeout(() => {
      process.stdout.write(got);
      s.end();
    }, Number(hold));
  });
  s.on('error', (e) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
  s.on('close', () => process.exit(got.includes('\n') ? 0 : 1));
  s.setTimeout(15000, () => {
    process.stderr.write('timeout\n');
    process.exit(1);
  });
} else {
  process.stderr.write('usage: tcp-peer.cjs serve PORT | connect HOST PORT LOCALPORT HOLDMS\n');
  process.exit(2);
}
