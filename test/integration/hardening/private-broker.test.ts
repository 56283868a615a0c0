/**
 * The private RabbitMQ node that the restart tests stop and start (tools/privateBroker.ts): its
 * port must come back to it, and a start must not mistake another server on that port for it.
 * A failover run once went on against the shared broker after another test's proxy took the
 * private node's port while it restarted: the messages queued before the restart stayed in the
 * node, which could no longer listen, and the test reported them as never consumed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ephemeralPortsStart } from '../../../tools/freePort';
import { BROKER_HOST, BROKER_PORT, requireBroker } from '../../support/broker';
import { type Forwarder, startForwarder } from '../../support/forwarder';
import { startSecondBroker } from '../../support/secondBroker';
import { sleep } from '../../support/wait';

const privateBroker = suite('private RabbitMQ node');
privateBroker.before(() => requireBroker());

privateBroker('a restart whose port another server took fails, naming it, instead of handing that server to the test', async () => {
  const broker = await startSecondBroker();
  const start = ephemeralPortsStart();
  if (start !== undefined) {
    assert.ok(broker.port < start, `AMQP port ${broker.port} is below the ephemeral range (${start}-): no listen(0) is given it`);
  }
  // Stands in for any program on the machine that binds the port while the node is down: a
  // forwarder to the shared broker, which answers AMQP as the node would.
  let squatter: Forwarder | undefined;
  let restarting = true;
  const squat = (async () => {
    while (restarting && !squatter) {
      squatter = await startForwarder(BROKER_HOST, BROKER_PORT, { port: broker.port }).catch(() => undefined);
      await sleep(10);
    }
  })();
  try {
    const restarted = await broker.restart().then(() => 'restarted', (err: Error) => err.message);
    restarting = false;
    await squat;
    assert.ok(squatter, 'the port was taken while the node was down');
    assert.match(restarted, `port ${broker.port} was answered by another AMQP server`);

  } finally {
    restarting = false;
    await squat;
    await squatter?.close();
    await broker.stop();
  }
});

privateBroker.run();
