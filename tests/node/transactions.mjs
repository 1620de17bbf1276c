// Transfers between two accounts with the Node driver's session.withTransaction, from several
// workers at once so that they conflict (the driver retries on TransientTransactionError), while a
// change stream watches the accounts. The guide's readPreference (primaryPreferred) is not allowed
// in a transaction (the driver refuses it): transactions name primary, as the hub's code must.
// Usage: node transactions.mjs URI WORKERS TRANSFERS_PER_WORKER
import { MongoClient } from 'mongodb';

import { describeError, emit, guideOptions } from './support.mjs';

const [uri, workers, perWorker] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const client = new MongoClient(uri, { ...guideOptions, monitorCommands: true });
client.on('commandFailed', e => {
  const labels = e.failure?.errorLabels ?? [];
  if (labels.includes('TransientTransactionError')) emit('transientError', { command: e.commandName, code: e.failure.code });
});
await client.connect();
const accounts = client.db('bank').collection('accounts');
await accounts.drop().catch(() => {});
await accounts.insertMany([{ _id: 'a', balance: 1000 }, { _id: 'b', balance: 1000 }]);

const stream = accounts.watch([], { fullDocument: 'updateLookup' });
stream.on('change', c =>
  emit('change', { operationType: c.operationType, id: c.documentKey?._id, txnNumber: c.txnNumber ?? null })
);
await new Promise(resolve => setTimeout(resolve, 500)); // the stream's aggregate has run
emit('watching');

async function worker(w) {
  for (let i = 0; i < perWorker; i++) {
    const session = client.startSession();
    try {
      await session.withTransaction(async () => {
        const from = await accounts.findOne({ _id: 'a' }, { session });
        if (from.balance <= 0) throw new Error('overdrawn');
        await accounts.updateOne({ _id: 'a' }, { $inc: { balance: -1 } }, { session });
        await accounts.updateOne({ _id: 'b' }, { $inc: { balance: 1 } }, { session });
      }, { readPreference: 'primary' });
      emit('committed', { worker: w, i });
    } catch (err) {
      emit('failed', { worker: w, i, ...describeError(err) });
    } finally {
      await session.endSession();
    }
  }
}

await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
const final = await accounts.find({}).sort({ _id: 1 }).toArray();
emit('balances', { balances: Object.fromEntries(final.map(d => [d._id, d.balance])) });
await new Promise(resolve => setTimeout(resolve, 3000)); // the stream's last events arrive
await stream.close();
await client.close();
emit('closed');
