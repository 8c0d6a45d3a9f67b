import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { isTransientDatabaseError } from "../db/transient-errors.js";
import { AppError, describeError } from "../errors.js";
import type { Logger } from "../logger.js";

export interface ErrorBody {
  error: string;
  message: string;
  [extra: string]: unknown;
}

/** Every error answer has this shape: a stable code and a readable message, no stack. */
export function errorResponse(
  c: Context,
  status: number,
  body: ErrorBody,
  headers?: Record<string, string>,
) {
  return c.json(body, status as ContentfulStatusCode, headers);
}

export function handleError(logger: Logger) {
  return (thrown: unknown, c: Context) => {
    const requestId = c.get("requestId" as never) as string | undefined;
    if (thrown instanceof AppError) {
      const log = thrown.status >= 500 ? logger.error.bind(logger) : logger.info.bind(logger);
      log({ requestId, code: thrown.code, err: describeError(thrown) }, "request failed");
      return errorResponse(c, thrown.status, { error: thrown.code, message: thrown.message });
    }
    if (thrown instanceof HTTPException) {
      logger.info({ requestId, status: thrown.status, err: thrown.message }, "request refused");
      return errorResponse(c, thrown.status, {
        error: thrown.status === 413 ? "payload_too_large" : "bad_request",
        message: thrown.message || "The request could not be read.",
      });
    }
    if (isTransientDatabaseError(thrown)) {
      logger.error({ requestId, err: describeError(thrown) }, "database unavailable");
      return errorResponse(
        c,
        503,
        {
          error: "database_unavailable",
          message:
            "The database is busy or out of reach; nothing was lost. Try again in a few seconds.",
        },
        { "Retry-After": "5" },
      );
    }
    logger.error({ requestId, err: describeError(thrown) }, "unexpected error");
    return errorResponse(c, 500, {
      error: "internal_error",
      message: `Something went wrong on our side; the service log has the details under request id ${requestId ?? "unknown"}.`,
    });
  };
}
