// A real HTTP server for end-to-end tests: answers every request with
// "NAME LOCAL_ADDRESS saw REMOTE_ADDRESS", so a test can tell which host answered, on which of its
// addresses, and the source address the request arrived from (after any NAT on the way).
// Usage: node whoami.cjs NAME PORT   — prints "listening" once bound.
'use strict';
const http = require('node:http');
const [name, port] = process.argv.slice(2);
const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`${name} ${req.socket.localAddress} saw ${req.socket.remoteAddress}\n`);
});
server.listen(Number(port), '0.0.0.0', () => process.stdout.write('listening\n'));
