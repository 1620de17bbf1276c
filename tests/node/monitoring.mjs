// Connect with the guide's options and report the driver's monitoring events until told to stop.
// Usage: node monitoring.mjs URI   (then "stop" on stdin)
import { MongoClient } from 'mongodb';

import { emit, guideOptions, recordMonitoring, waitForLine } from './support.mjs';

const client = new MongoClient(process.argv[2], guideOptions);
recordMonitoring(client);
await client.connect();
await client.db('admin').command({ ping: 1 });
emit('connected');
await waitForLine('stop');
await client.close();
emit('closed');
