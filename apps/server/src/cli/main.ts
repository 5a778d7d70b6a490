/** The CLI's dispatcher: picks the command, prints errors as one line, answers the exit code. */
import { ConfigError, packageVersion } from '../config.js';
import { accounts, help, keys, migrate, serve, trigger } from './commands.js';
import { listen } from './listen.js';
import { CliError, type Io, stdio } from './output.js';
import { rotateEncryptionKeyCommand } from './rotate-encryption-key.js';
import { tester } from './tester.js';

type Command = (args: string[], io: Io) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  serve,
  migrate,
  accounts,
  keys,
  trigger,
  listen,
  tester,
  'rotate-encryption-key': rotateEncryptionKeyCommand,
};

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h' || first === 'help') return help(rest[0] ?? 'main', io);
  if (first === '--version' || first === '-v') {
    io.out(`agentfactory-webhooks ${packageVersion()}`);
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
