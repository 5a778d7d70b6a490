/**
 * The service's pino logger. Keys, secrets, custom header values and bodies are never logged:
 * the code does not pass them, and `redact` censors them should one slip into a log object.
 */
import { type DestinationStream, type Logger, pino } from 'pino';
import type { LogLevel } from './config.js';

export const REDACT_PATHS = [
  'authorization',
  'req.headers.authorization',
  'req.headers["idempotency-key"]',
  'headers.authorization',
  '*.authorization',
  'secret',
  '*.secret',
  'previous_secret',
  '*.previous_secret',
  'api_key',
  '*.api_key',
  'apiKey',
  '*.apiKey',
  'adminKey',
  '*.adminKey',
  'encryptionKey',
  '*.encryptionKey',
  'encryptionKeys',
  '*.encryptionKeys',
  'headers',
  '*.headers',
  'body',
  '*.body',
  'data',
  '*.data',
];

/** A pino logger at `level`; `destination` lets tests capture the output. */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'agentfactory-webhooks' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
