/**
 * Which database errors are worth trying again. A lost connection, a serialization failure
 * or a deadlock says nothing about the statement: the same statement may well succeed a
 * moment later. Anything else (a constraint, a syntax error) will fail the same way again.
 */

// PostgreSQL SQLSTATE codes: connection exceptions (08), serialization failure (40001),
// deadlock (40P01), operator intervention such as pg_terminate_backend (57P01-57P03),
// too many connections (53300).
const TRANSIENT_SQLSTATES = new Set([
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
  "08007",
  "40001",
  "40P01",
  "53300",
  "57P01",
  "57P02",
  "57P03",
]);

const TRANSIENT_NODE_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
]);

// SQLite: another connection holds the lock longer than busy_timeout allowed.
const TRANSIENT_SQLITE_CODES = new Set(["SQLITE_BUSY", "SQLITE_BUSY_SNAPSHOT", "SQLITE_LOCKED"]);

const TRANSIENT_MESSAGES = [
  /Connection terminated/i,
  /connection error/i,
  /terminating connection/i,
  /Client was closed and is not queryable/i,
  /timeout exceeded when trying to connect/i,
];

export function isTransientDatabaseError(thrown: unknown): boolean {
  const error = thrown as { code?: unknown; message?: unknown } | undefined;
  const code = typeof error?.code === "string" ? error.code : "";
  if (
    TRANSIENT_SQLSTATES.has(code) ||
    TRANSIENT_NODE_CODES.has(code) ||
    TRANSIENT_SQLITE_CODES.has(code)
  ) {
    return true;
  }
  const message = typeof error?.message === "string" ? error.message : "";
  return TRANSIENT_MESSAGES.some((pattern) => pattern.test(message));
}

export interface RetryOptions {
  attempts?: number;
  baseMs?: number;
  /** Called before each new try, with the error that caused it. */
  onRetry?: (error: unknown, attempt: number) => void;
}

/** Run `work`, trying again with a short backoff while it fails with a transient error. */
export async function retryTransient<T>(
  work: () => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 5;
  const baseMs = options.baseMs ?? 50;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !isTransientDatabaseError(error)) throw error;
      options.onRetry?.(error, attempt);
      const delay = baseMs * 2 ** (attempt - 1);
      await new Promise((resolve) => setTimeout(resolve, delay / 2 + Math.random() * (delay / 2)));
    }
  }
}
