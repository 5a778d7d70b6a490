#!/usr/bin/env node
import { accounts, help, keys, migrate, serve, trigger } from './cli/commands.js';
import { CliError, type Io, stdio } from './cli/output.js';
/**
 * `agentfactory-webhooks`: run the service and talk to it (SPEC §7). `listen` and `tester`
 * arrive in a later issue and get their own files in `cli/`.
 */
import { ConfigError } from './config.js';

type Command = (args: string[], io: Io) => Promise<number>;

const COMMANDS: Record<string, Command> = { serve, migrate, accounts, keys, trigger };

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h' || first === 'help') return help(rest[0] ?? 'main', io);
  if (first === '--version' || first === '-v') {
    io.out('agentfactory-webhooks 0.1.0');
    return 0;
  }
  const name = first === undefined || first.startsWith('-') ? 'serve' : first;
  const args = first === undefined || first.startsWith('-') ? argv : rest;
  const command = COMMANDS[name];
  if (!command) {
    io.err(`error: unknown command "${name}" (run agentfactory-webhooks --help)`);
    return 1;
  }
  try {
    return await command(args, io);
  } catch (err) {
    if (err instanceof ConfigError) io.err(`error: configuration: ${err.message}`);
    else if (err instanceof CliError) io.err(`error: ${err.message}`);
    else if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
      io.err(
        `error: the port is already in use (${(err as Error).message}); set PORT to another one`,
      );
    else io.err(`error: ${(err as Error).message ?? String(err)}`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (
      code !== 0 ||
      !['serve', undefined].includes(process.argv[2]) ||
      process.argv[2]?.startsWith('-')
    ) {
      process.exitCode = code;
    }
    if (code !== 0) process.exit(code);
  },
  (err) => {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
