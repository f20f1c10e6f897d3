import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs (one object a line) for servers; quiet for the CLI unless asked. */
export function createLogger(level: string = 'info'): Logger {
  return pino({ level, base: { service: 'cairn' }, timestamp: pino.stdTimeFunctions.isoTime });
}
