import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { requireBroker, uniqueName } from '../../support/broker';
import { managedClients } from './clients';
import { Ledger, deleteQueues, sleep, stablePort, startChildProxy, waitFor } from './helpers';

const killRestart = suite('proxy killed with SIGKILL and restarted under load');
killRestart.before(() => requireBroker());

killRestart('clients reconnect to the new process; no confirmed message is lost', async () => {
  // The new process listens on the same port: one no other program is given meanwhile.
  const port = await stablePort();
  let proxy = await startChildProxy(port);
  const queue = uniqueName('sigkill');
  const ledger = new Ledger();
  const clients = managedClients(proxy.url, queue, ledger);
  try {
    const publishing = clients.publish(0, 1000, 4);
    await waitFor('traffic before the kill', () => ledger.consumed.size >= 150, 15_000);
    const connectsBefore = clients.connects.count;
    proxy.process.kill('SIGKILL');
    const exit = await proxy.exited;
    assert.is(exit.signal, 'SIGKILL');
    await sleep(1000);
    proxy = await startChildProxy(port);
    await publishing;
    await waitFor('every confirmed message consumed', () => ledger.allConfirmedConsumed(), 30_000)
      .catch(() => assert.unreachable(`missing ${ledger.missing().length}: ${ledger.missing().slice(0, 10).join(',')}`));
    assert.is(ledger.confirmed.size, 1000);
    assert.ok(clients.connects.count >= connectsBefore + 2, 'publisher and consumer both reconnected');
  } finally {
    await clients.close();
    proxy.process.kill('SIGKILL');
    await deleteQueues(queue);
  }
});

killRestart.run();
