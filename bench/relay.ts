/**
 * The floor for any Node proxy: an opaque TCP relay that parses nothing. One upstream
 * connection per client, bytes piped both ways with the streams' own backpressure, Nagle
 * off on both sides (as the proxy must have it, or latency would measure Nagle).
 *
 *   node bench/.build/relay.js LISTEN_HOST:PORT UPSTREAM_HOST:PORT
 */
import { connect, createServer, type Socket } from 'node:net';

function parseHostPort(text: string | undefined, what: string): { host: string; port: number } {
  const m = /^([\w.-]+):(\d+)$/.exec(text ?? '');
  if (!m) {
    process.stderr.write(`relay: ${what} must be host:port, got ${String(text)}\n`);
    process.exit(2);
  }
  return { host: m[1]!, port: Number(m[2]) };
}

const listen = parseHostPort(process.argv[2], 'listen address');
const upstream = parseHostPort(process.argv[3], 'upstream address');

function relay(client: Socket): void {
  const server = connect(upstream.port, upstream.host);
  client.setNoDelay(true);
  server.setNoDelay(true);
  const closeBoth = (): void => {
    client.destroy();
    server.destroy();
  };
  client.on('error', closeBoth).on('close', closeBoth);
  server.on('error', closeBoth).on('close', closeBoth);
  client.pipe(server);
  server.pipe(client);
}

createServer(relay)
  .on('error', (err) => {
    process.stderr.write(`relay: ${err.message}\n`);
    process.exit(1);
  })
  .listen(listen.port, listen.host, 4096);

// Forked by the harness with an IPC channel: exit with it rather than outlive it.
process.on('disconnect', () => process.exit(0));
// A clean exit on SIGTERM, so that `node --cpu-prof` gets to write its profile.
process.on('SIGTERM', () => process.exit(0));
