/**
 * The floor of the serve benchmark: a bare node:http server that reads each body and answers 204, storing nothing.
 * No framework on node:http can beat it, so it says how much of the time `meter serve` itself adds.
 * Prints "listening on URL" on stderr, as meter serve does.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const server = http.createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    res.writeHead(204);
    res.end();
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stderr.write(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
