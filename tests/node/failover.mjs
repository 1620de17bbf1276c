// The hub's way in (mongoose.connect with the guide's options) and a steady write loop, bounded
// by time; every write's outcome is reported. Usage: node failover.mjs URI SECONDS
import mongoose from 'mongoose';

import { describeError, emit, guideOptions, recordMonitoring } from './support.mjs';

const [uri, seconds] = [process.argv[2], Number(process.argv[3])];
const PAUSE_MS = 50;

await mongoose.connect(uri, guideOptions);
recordMonitoring(mongoose.connection.getClient());
const Write = mongoose.model('Write', new mongoose.Schema({ seq: Number, at: Date }));
emit('ready');
const deadline = Date.now() + seconds * 1000;
for (let seq = 0; Date.now() < deadline; seq++) {
  const started = Date.now() / 1000;
  try {
    await Write.create({ seq, at: new Date() });
    emit('write', { seq, started, ok: true });
  } catch (err) {
    emit('write', { seq, started, ok: false, error: describeError(err) });
  }
  await new Promise(resolve => setTimeout(resolve, PAUSE_MS));
}
await mongoose.disconnect();
emit('done');
