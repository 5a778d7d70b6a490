/**
 * `agentfactory-webhooks rotate-encryption-key` (SPEC §7): seals every stored secret and custom
 * header value again under the newest key of `AF_ENCRYPTION_KEYS` (`security/key-rotation.ts`),
 * with a progress bar on a terminal and one line per page otherwise. Ctrl-C stops after the page
 * being written; running it again carries on.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { createCipher } from '../security/crypto.js';
import {
  DEFAULT_ROTATION_BATCH,
  type RotationProgress,
  rotateEncryptionKey,
} from '../security/key-rotation.js';
import { openStore } from '../service.js';
import { CliError, type Io } from './output.js';

export const ROTATE_HELP = `agentfactory-webhooks rotate-encryption-key [--batch-size N]

Re-encrypts every webhook secret, custom header value and listen secret under the newest key of
AF_ENCRYPTION_KEYS (the first), in pages of N rows (default ${DEFAULT_ROTATION_BATCH}), each in one transaction.
Run it against the database of the service (DATABASE_URL, or AF_DATA_DIR on SQLite), with the same
keys the running service has: first start every process with the new key first and the old ones
after it (AF_ENCRYPTION_KEYS=new,old), then run this, then remove the old keys.

Safe to interrupt (Ctrl-C stops after the current page) and to run again: values already under the
newest key are skipped. Exits 0 when every value is under the newest key, 1 when some could not be
decrypted (they are listed by row and column, never by value).`;

/** Width of the progress bar, in characters. */
const BAR = 30;

export async function rotateEncryptionKeyCommand(args: string[], io: Io): Promise<number> {
  let values: { 'batch-size'?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args,
      options: { 'batch-size': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  if (values.help) {
    io.out(ROTATE_HELP);
    return 0;
  }
  const batchText = values['batch-size'] ?? String(DEFAULT_ROTATION_BATCH);
  const batchSize = Number(batchText);
  if (!/^\d+$/.test(batchText) || batchSize < 1 || batchSize > 10_000)
    throw new CliError(`--batch-size must be an integer from 1 to 10000, got "${batchText}"`);

  const config = loadConfig();
  const cipher = createCipher(config.encryptionKeys);
  const [newest, ...older] = cipher.keyIds;
  io.out(
    `re-encrypting under key ${newest}${older.length > 0 ? ` (also reading ${older.join(', ')})` : ''}`,
  );
  const store = await openStore(config);
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    io.err('interrupted: stopping after the current page (Ctrl-C again to quit now)');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const progress = progressPrinter(io);
  try {
    const result = await rotateEncryptionKey(store, cipher, {
      batchSize,
      onProgress: progress.update,
      shouldStop: () => interrupted,
    });
    progress.end();
    for (const f of result.failures)
      io.err(`could not re-encrypt ${f.table} ${f.id} ${f.column}: ${f.reason}`);
    io.out(`${result.rewritten} value(s) re-encrypted`);
    if (interrupted) {
      io.err('stopped before the end: run rotate-encryption-key again to finish');
      return 130;
    }
    if (!result.complete) {
      io.err('values kept changing while they were re-encrypted: run it again');
      return 1;
    }
    if (result.failures.length > 0) {
      io.err(
        `${result.failures.length} value(s) do not decrypt with the configured keys and were left as they are; ` +
          'their deliveries fail with configuration_error (set a new secret or headers on those webhooks)',
      );
      return 1;
    }
    io.out(
      older.length > 0
        ? `every value is under key ${newest}: the older key(s) ${older.join(', ')} can be removed from AF_ENCRYPTION_KEYS`
        : `every value is under key ${newest}`,
    );
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await store.close();
  }
}

/** A bar redrawn in place on a terminal; a plain line per page otherwise (logs, pipes, CI). */
function progressPrinter(io: Io) {
  const tty = process.stderr.isTTY === true;
  let drawn = false;
  return {
    update(p: RotationProgress) {
      const pass = p.pass > 1 ? ` (pass ${p.pass})` : '';
      const line = `${p.rows}/${p.total} rows, ${p.rewritten} value(s) re-encrypted${pass}`;
      if (!tty) {
        io.err(line);
        return;
      }
      const filled = p.total === 0 ? BAR : Math.round((p.rows / p.total) * BAR);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${line}`);
      drawn = true;
    },
    end() {
      if (drawn) process.stderr.write('\n');
    },
  };
}
