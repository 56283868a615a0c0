import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, createServer } from 'node:net';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { defaultResource } from '@opentelemetry/resources';
import { createOtlpGrpcSender, serializeRequest, syntheticSpans, warmUpExport } from '../../../src/trace/otlpExport';
import { startOtlpReceiver } from '../../support/otlpReceiver';
import { sleep } from '../../support/wait';

// The proxy imports the trace serializer from inside the package (its index loads the
// metrics and logs SDKs too): it must be the one the package exports.
test('the serializer the proxy imports is the OTLP trace serializer the package exports', () => {
  const spans = syntheticSpans(defaultResource(), { name: 'amqp-trace-proxy' }, 4);
  const ours = serializeRequest(spans);
  assert.ok(ours !== undefined && ours.length > 0);
  assert.equal(Buffer.from(ours), Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!));
});

test('warming up the export path connects to the collector and sends nothing', async () => {
  const receiver = await startOtlpReceiver();
  let connections = 0;
  // A TCP relay in front of the receiver counts the connections the warm-up opens.
  const relay = createServer((socket) => {
    connections++;
    const upstream = connect(receiver.port, '127.0.0.1');
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const port = (relay.address() as { port: number }).port;
  const sender = createOtlpGrpcSender(`http://127.0.0.1:${port}`, 5000);
  try {
    assert.ok(warmUpExport(defaultResource(), { name: 'test' }) >= 0);
    assert.is(await sender.warmUpChannel(3000), true, 'the collector answered');
    assert.is(connections, 1, 'a channel was opened');
    await sleep(200);
    assert.is(receiver.requests, 0, 'no Export call');
    assert.is(receiver.spans().length, 0, 'no span');
  } finally {
    await sender.shutdown();
    relay.close();
    await receiver.close();
  }
});

test('a collector that is not there: the channel warm-up gives up within its wait', async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const sender = createOtlpGrpcSender(`http://127.0.0.1:${port}`, 5000);
  const started = Date.now();
  assert.is(await sender.warmUpChannel(300), false);
  assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
  await sender.shutdown();
});

test.run();
