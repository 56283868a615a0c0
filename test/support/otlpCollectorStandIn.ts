/**
 * The compose tests' stand-in for the OpenTelemetry Collector (whose image only a registry
 * has): the test OTLP receiver on 0.0.0.0:4317, where the proxy and the gateway export, and
 * every span it received as JSON on http://127.0.0.1:8080/ inside the container. Run in the
 * gateway's image by test/docker/compose.local.yml; kept out of test/docker, where uvu
 * would load it as a test.
 */
import { createServer } from 'node:http';
import { startOtlpReceiver } from './otlpReceiver';

async function main(): Promise<void> {
  const receiver = await startOtlpReceiver({ host: '0.0.0.0', port: 4317 });
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(receiver.spans(), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value)));
  });
  server.listen(8080, '127.0.0.1');
  process.once('SIGTERM', () => {
    server.close();
    void receiver.close().then(() => process.exit(0));
  });
}

main().catch((err: Error) => {
  console.error(`collector stand-in: ${err.message}`);
  process.exit(1);
});
