// Shared by the scripts in this folder: the hub's driver options and the event stream the
// Python tests read (one JSON object per line on stdout, `t` in seconds since the epoch).
import { createInterface } from 'node:readline';

// The production guide's mongoOptions, verbatim: no heartbeatFrequencyMS override.
export const guideOptions = {
  readPreference: 'primaryPreferred',
  maxPoolSize: 50,
  minPoolSize: 5,
  serverSelectionTimeoutMS: 5000,
  socketTimeoutMS: 45000,
  retryWrites: true,
  retryReads: true,
  w: 'majority',
  journal: true
};

export function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ t: Date.now() / 1000, event, ...fields }) + '\n');
}

// Topology events of a MongoClient, as the tests judge monitoring by them.
export function recordMonitoring(client) {
  client.on('serverHeartbeatSucceeded', e =>
    emit('heartbeatSucceeded', { address: e.connectionId, awaited: e.awaited })
  );
  client.on('serverHeartbeatFailed', e =>
    emit('heartbeatFailed', { address: e.connectionId, awaited: e.awaited, error: String(e.failure) })
  );
  client.on('serverDescriptionChanged', e =>
    emit('serverDescriptionChanged', {
      address: e.address,
      from: e.previousDescription.type,
      to: e.newDescription.type
    })
  );
}

// Resolves when the controlling test writes a line with `word` on stdin.
export function waitForLine(word) {
  const lines = createInterface({ input: process.stdin });
  return new Promise(resolve => {
    lines.on('line', line => {
      if (line.trim() === word) {
        lines.close();
        process.stdin.destroy(); // an open stdin would keep the process alive
        resolve();
      }
    });
  });
}

export function describeError(err) {
  return {
    name: err?.name ?? typeof err,
    message: String(err?.message ?? err),
    code: err?.code,
    labels: Array.isArray(err?.errorLabels) ? err.errorLabels : []
  };
}
