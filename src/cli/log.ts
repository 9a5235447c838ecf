// JSON logs to stdout: a DaemonSet's convention.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ name: 'vxroute', level });
}
