#!/usr/bin/env node
/**
 * `agentfactory-webhooks`: run the service and talk to it (SPEC §7). `listen` arrives in a later
 * issue as one more command in `cli/`.
 */
import { main } from './cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    // `serve` never resolves; the other commands end with their exit code.
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
