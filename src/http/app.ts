import { randomUUID } from "node:crypto";
import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import { describeError } from "../errors.js";
import { runLowStockCheck } from "../inventory/low-stock.js";
import type { JobEngine } from "../jobs/engine.js";
import type { Logger } from "../logger.js";
import { KeyRing } from "./auth.js";
import { errorResponse, handleError } from "./http-errors.js";

export interface AppDeps {
  config: Config;
  database: Database;
  jobs: JobEngine;
  clock: Clock;
  logger: Logger;
}

type Env = { Variables: { requestId: string } };

const BODY_LIMIT_BYTES = 64 * 1024;

/** The HTTP API. Paths answer with and without their trailing slash. */
export function buildApp(deps: AppDeps): Hono<Env> {
  const { config, database, jobs, clock, logger } = deps;
  const app = new Hono<Env>({ strict: false });
  const keys = new KeyRing(config.cronApiKeys);

  app.use(requestLog(logger));
  app.use(
    bodyLimit({
      maxSize: BODY_LIMIT_BYTES,
      onError: (c) =>
        errorResponse(c, 413, {
          error: "payload_too_large",
          message: `The request body is larger than ${BODY_LIMIT_BYTES} bytes.`,
        }),
    }),
  );
  app.onError(handleError(logger));
  app.notFound((c) =>
    errorResponse(c, 404, {
      error: "not_found",
      message: `No route for ${c.req.method} ${c.req.path}.`,
    }),
  );

  // The wake-up call: no key, quick, and honest about the database.
  app.get("/health", async (c) => {
    const started = performance.now();
    try {
      await database.ping(3_000);
    } catch (error) {
      logger.error({ err: describeError(error) }, "health check: database does not answer");
      return c.json(
        {
          status: "unavailable",
          database: {
            engine: database.engine,
            status: "down",
            error: "the database does not answer",
          },
        },
        503,
      );
    }
    return c.json({
      status: "ok",
      database: {
        engine: database.engine,
        status: "ok",
        latencyMs: Math.round(performance.now() - started),
      },
      time: new Date(clock.now()).toISOString(),
    });
  });

  const requireKey: MiddlewareHandler<Env> = async (c, next) => {
    const check = keys.checkHeader(c.req.header("authorization"));
    if (check === "ok") return next();
    const challenge = { "WWW-Authenticate": 'Api-Key realm="davus"' };
    if (check === "missing") {
      return errorResponse(
        c,
        401,
        { error: "missing_credentials", message: "Send the header Authorization: Api-Key <key>." },
        challenge,
      );
    }
    if (check === "malformed") {
      return errorResponse(
        c,
        401,
        {
          error: "malformed_credentials",
          message: "The Authorization header must be Api-Key <key> or Bearer <key>.",
        },
        challenge,
      );
    }
    return errorResponse(c, 403, { error: "invalid_key", message: "The key is not valid." });
  };

  app.post("/api/v1/jobs/check-stock", requireKey, async (c) => {
    const result = await runLowStockCheck({
      jobs,
      clock,
      recipients: config.lowStockAlertEmails,
      trigger: "http",
    });
    const body = {
      low_products: result.lowProducts,
      emails_sent: result.emailsSent,
      emails_pending: result.emailsPending,
      emails_already_sent: result.emailsAlreadySent,
      emails_failed: result.emailsFailed,
    };
    if (result.emailsPending > 0 || result.emailsFailed > 0) {
      const firstError =
        result.deliveries.find((d) => d.error)?.error ?? "delivery did not finish in time";
      return c.json(
        {
          status: "error",
          error: result.emailsFailed > 0 ? "mail_failed" : "mail_pending",
          message:
            result.emailsFailed > 0
              ? `Some digests were refused for good: ${firstError}`
              : `Some digests could not be delivered yet and stay queued for a retry: ${firstError}`,
          ...body,
        },
        502,
      );
    }
    return c.json({ status: "success", ...body });
  });

  return app;
}

function requestLog(logger: Logger): MiddlewareHandler<Env> {
  return async (c, next) => {
    const requestId = c.req.header("x-request-id")?.slice(0, 64) || randomUUID();
    c.set("requestId", requestId);
    const started = performance.now();
    await next();
    const status = c.res.status;
    const fields = {
      requestId,
      method: c.req.method,
      path: c.req.path,
      status,
      durationMs: Math.round(performance.now() - started),
    };
    // One line per request, never with its headers: they may carry a key.
    if (status >= 500) logger.error(fields, "request");
    else logger.info(fields, "request");
  };
}
