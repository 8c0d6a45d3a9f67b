/**
 * One error type for the whole service. `code` is stable and safe to show a client;
 * `message` quotes the bad value and says what to do; `retryable` tells a transient
 * infrastructure failure (a lost connection, an SMTP 4xx) from a permanent one.
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly retryable: boolean;
  readonly details: unknown;

  constructor(
    code: string,
    message: string,
    options: { status?: number; retryable?: boolean; cause?: unknown; details?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.status = options.status ?? 500;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }
}

/** Normalise anything thrown into an Error, keeping the original as `cause`. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === "string" ? thrown : JSON.stringify(thrown), {
    cause: thrown,
  });
}

/** True when an error says to try again later rather than give up. */
export function isRetryable(thrown: unknown): boolean {
  if (thrown instanceof AppError) return thrown.retryable;
  return true;
}

/** The text of an error and its causes, one line, for logs and the `job_runs` table. */
export function describeError(thrown: unknown): string {
  const parts: string[] = [];
  let current: unknown = thrown;
  for (let depth = 0; current !== undefined && depth < 4; depth++) {
    const error = toError(current);
    // A cause whose text the message already quotes adds nothing.
    if (!parts.some((part) => part.includes(error.message))) parts.push(error.message);
    current = error.cause === current ? undefined : error.cause;
  }
  let text = parts[0] ?? "";
  for (const part of parts.slice(1)) {
    // A message that ends a sentence is followed by a new one, not by a colon.
    text += text.endsWith(".") ? ` Caused by: ${part}` : `: caused by: ${part}`;
  }
  return text;
}
