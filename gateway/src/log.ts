/**
 * One logger for the process (pino: structured JSON, cheap when a level is off). Modules get
 * a child logger in their constructor (`log.child({ module: 'polling', bus })`), never a global.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env.SW_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { app: 'shouwang' }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** A logger that drops everything, for unit tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
