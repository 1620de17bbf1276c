"""Change streams: the oplog read as events, as mongod's `$changeStream` stage does.

- `tokens.py`: resume tokens and their order;
- `events.py`: oplog entries (transactions' applyOps expanded) to change events for one stream;
- `preimages.py`: pre-images of collections with `changeStreamPreAndPostImages` enabled;
- `stream.py`: the change stream cursor (majority-committed entries only, awaitData getMore,
  postBatchResumeToken on every batch);
- `commands/changestream.py`: the `$changeStream` aggregate and `$listLocalSessions`.
"""
