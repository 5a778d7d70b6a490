/**
 * Runs the real CLI as a child process, as a user would, with its own environment, and collects
 * what it prints. It is `node --import tsx --conditions=agentfactory-source src/cli.ts …` — what
 * `npx tsx --conditions=agentfactory-source src/cli.ts` runs, but as ONE process, so that a signal reaches
 * exactly the service (tsx's wrapper process would relay SIGTERM and survive SIGKILL's target).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const SERVER_DIR = fileURLToPath(new URL('../../', import.meta.url));

export interface CliProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  /** Resolves when stdout matches `pattern` (bounded by `timeoutMs`). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export function runCli(args: string[], env: Record<string, string>): CliProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=agentfactory-source', 'src/cli.ts', ...args],
    {
      cwd: SERVER_DIR,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitForOutput(pattern, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = out.match(pattern);
        if (m) return m;
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`CLI exited before printing ${pattern}: ${out}\n${err}`);
        if (Date.now() > deadline)
          throw new Error(`CLI did not print ${pattern} in ${timeoutMs} ms: ${out}\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** Sends `signal` to the CLI process (no-op when it has exited). */
export function signal(p: CliProcess, signal: NodeJS.Signals): void {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill(signal);
}
