import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger };

/**
 * Paths pino blanks out wherever they appear. The code never logs a key or a password on
 * purpose; this is the second line of defence against a header or option logged whole.
 */
const REDACTED_PATHS = [
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  'headers["x-davus-signature"]',
  "password",
  "*.password",
  "auth.pass",
  "*.auth.pass",
  "apiKey",
  "*.apiKey",
];

/** The service's logger: JSON lines on stdout, or on `destination` when one is given. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "davus" },
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
