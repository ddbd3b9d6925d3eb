import { pino, type Logger } from 'pino';

export type { Logger };

export interface LogConfig {
  logLevel: string;
  logFormat: 'json' | 'pretty';
}

/**
 * Structured JSON logs (one object per line) for production; pretty, coloured lines in development.
 * Credentials are redacted wherever they might appear in a logged object.
 */
export function createLogger(config: LogConfig): Logger {
  const options = {
    level: config.logLevel,
    base: { service: 'profile-hosting' },
    redact: {
      paths: ['authorization', '*.authorization', 'headers.authorization', '*.headers.authorization', 'authToken', '*.authToken', 'appSecret', '*.appSecret', 'token', '*.token'],
      censor: '[redacted]',
    },
  };
  if (config.logFormat === 'pretty') {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } });
  }
  // asynchronous writes: lines logged while a write is in flight go out together in the next one
  // (one system call per request otherwise); pino flushes what is left when the process exits
  return pino(options, pino.destination({ dest: 1, sync: false }));
}
