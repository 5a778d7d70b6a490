/**
 * The SQLite store's thread: it owns the better-sqlite3 connection and runs `SqliteStore`, so
 * the service's event loop never waits on the disk: on the service's thread, commits (their fsync
 * with `synchronous=FULL`, and WAL checkpoints) made busy windows of tens of milliseconds under
 * load, during which no request was parsed and no delivery sent.
 *
 * Calls are handled in the order they arrive. Event inserts wait for the end of the turn and
 * commit together (`SqliteStore.insertEvents`): the calls that queue up while one commit fsyncs
 * are read in the next turn and share the next commit.
 *
 * `close` lets the inserts of the current turn commit, closes the database and answers; the
 * service's side then ends the thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { StoreAnswer, StoreCall, StoreThreadData } from './protocol.js';
import { serializeError } from './protocol.js';
import { SqliteStore } from './store.js';

const port = parentPort;
if (!port) throw new Error('store/sqlite/worker runs as a worker thread: use createSqliteStore');
const { path } = workerData as StoreThreadData;

// A database that cannot be opened answers every call with that error, as the constructor did
// when it ran on the service's thread; the service closes the store after a failed migrate.
let store: SqliteStore | undefined;
let openError: unknown;
try {
  store = new SqliteStore(path);
} catch (err) {
  openError = err;
}

function answer(id: number, run: () => Promise<unknown>): void {
  let pending: Promise<unknown>;
  try {
    pending = run();
  } catch (err) {
    pending = Promise.reject(err);
  }
  pending.then(
    (value) => port!.postMessage({ id, value } satisfies StoreAnswer),
    (err: unknown) => port!.postMessage({ id, error: serializeError(err) } satisfies StoreAnswer),
  );
}

port.on('message', (call: StoreCall) => {
  if (call.method === 'close') {
    answer(call.id, async () => {
      // Inserts of this turn commit in a setImmediate queued before this one.
      await new Promise((resolve) => setImmediate(resolve));
      await store?.close();
    });
    return;
  }
  answer(call.id, () => {
    if (!store) throw openError;
    const method = store[call.method] as (...args: unknown[]) => Promise<unknown>;
    return method.apply(store, call.args);
  });
});
