import { randomUUID } from "node:crypto";
import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import { AppError, describeError } from "../errors.js";
import { runLowStockCheck } from "../inventory/low-stock.js";
import type { JobEngine } from "../jobs/engine.js";
import type { Logger } from "../logger.js";
import type { Scheduler } from "../schedules/scheduler.js";
import { KeyRing } from "./auth.js";
import { requireTrigger } from "./guard.js";
import { errorResponse, handleError } from "./http-errors.js";
import { FailureLimiter } from "./rate-limit.js";

export interface AppDeps {
  config: Config;
  database: Database;
  jobs: JobEngine;
  scheduler: Scheduler;
  clock: Clock;
  logger: Logger;
}

type Env = { Variables: { requestId: string } };

const BODY_LIMIT_BYTES = 64 * 1024;

/** The HTTP API. Paths answer with and without their trailing slash. */
export function buildApp(deps: AppDeps): Hono<Env> {
  const { config, database, jobs, scheduler, clock, logger } = deps;
  const app = new Hono<Env>({ strict: false });

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
  let allowedMethods: ((path: string) => string[]) | undefined;
  app.notFound((c) => {
    // Read the routes at the first miss, once every route is registered.
    allowedMethods ??= methodsByPath(app);
    const allowed = allowedMethods(c.req.path);
    if (allowed.length > 0) {
      return errorResponse(
        c,
        405,
        {
          error: "method_not_allowed",
          message: `${c.req.path} answers ${allowed.join(", ")}, not ${c.req.method}.`,
        },
        { Allow: allowed.join(", ") },
      );
    }
    return errorResponse(c, 404, {
      error: "not_found",
      message: `No route for ${c.req.method} ${c.req.path}.`,
    });
  });

  const guard = requireTrigger({
    keys: new KeyRing(config.cronApiKeys),
    rawKeys: config.cronApiKeys,
    limiter: new FailureLimiter(),
    database,
    clock,
    logger,
    trustProxy: config.trustProxy,
  });

  // The wake-up call: no key, quick, and honest about the database and the cron.
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
    const latencyMs = Math.round(performance.now() - started);
    const schedules = await scheduler.status();
    return c.json({
      status: "ok",
      database: { engine: database.engine, status: "ok", latency_ms: latencyMs },
      scheduler: {
        last_trigger_at: schedules.lastTriggerAt,
        overdue: schedules.overdue,
        schedules: schedules.schedules.map((s) => ({
          name: s.name,
          last_slot: s.lastSlot,
          next_slot: s.nextSlot,
          overdue: s.overdue,
          overdue_since: s.overdueSince,
          overdue_slots: s.overdueSlots,
        })),
      },
      time: new Date(clock.now()).toISOString(),
    });
  });

  app.post("/api/v1/jobs/check-stock", guard, async (c) => {
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
    if (result.problem !== undefined) {
      const firstError = result.problem;
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

  // The external cron's one call: fire due slots, then drain within the budget.
  app.post("/api/v1/jobs/tick", guard, async (c) => {
    const started = performance.now();
    const budgetMs = parseBudget(c.req.query("budget"), config.jobs.tickBudgetMs);
    const fired = await scheduler.fireDue("trigger");
    const left = Math.max(1, budgetMs - (performance.now() - started));
    const drained = await jobs.drain({ budgetMs: left, trigger: "trigger" });
    const status = await scheduler.status();
    return c.json({
      status: "success",
      fired: fired.fired.map((slot) => ({
        schedule: slot.schedule,
        slot: slot.slot,
        job_id: slot.jobId,
        late_by_ms: slot.lateByMs,
      })),
      skipped: fired.skipped,
      late: fired.late.map((report) => ({ schedule: report.schedule, slots: report.total })),
      drain: {
        succeeded: drained.counts.succeeded,
        failed: drained.counts.failed,
        dead: drained.counts.dead,
        running: drained.counts.running,
        released: drained.counts.released,
        duration_ms: drained.durationMs,
      },
      remaining: drained.remaining,
      schedules: status.schedules.map((s) => ({
        name: s.name,
        next_slot: s.nextSlot,
        overdue: s.overdue,
      })),
    });
  });

  app.get("/api/v1/jobs", guard, async (c) => {
    const lastRuns = await database.db
      .selectFrom("job_runs")
      .select(["task", "job_id", "outcome", "finished_at", "error"])
      .where("id", "in", (eb) =>
        eb
          .selectFrom("job_runs")
          .select((inner) => inner.fn.max("id").as("id"))
          .groupBy("task"),
      )
      .execute();
    const lastByTask = new Map(lastRuns.map((run) => [run.task, run]));
    const status = await scheduler.status();
    return c.json({
      tasks: jobs.taskNames().map((name) => {
        const task = jobs.getTask(name);
        const last = lastByTask.get(name);
        return {
          name,
          durable: task?.durable ?? false,
          manual: task?.manual ?? false,
          max_attempts: task?.maxAttempts ?? null,
          last_run: last
            ? {
                job_id: last.job_id,
                outcome: last.outcome,
                finished_at: last.finished_at ? new Date(last.finished_at).toISOString() : null,
                error: last.error,
              }
            : null,
        };
      }),
      schedules: status.schedules.map((s) => ({
        name: s.name,
        cron: s.cron,
        timezone: s.timezone,
        task: s.task,
        catch_up: s.catchUp,
        last_slot: s.lastSlot,
        last_fired_at: s.lastFiredAt,
        next_slot: s.nextSlot,
        overdue: s.overdue,
        last_outcome: lastByTask.get(s.task)?.outcome ?? null,
      })),
      last_trigger_at: status.lastTriggerAt,
    });
  });

  // Run one schedule or durable task now; a task's payload is the JSON body.
  app.post("/api/v1/jobs/:name", guard, async (c) => {
    const name = c.req.param("name");
    const budgetMs = parseBudget(c.req.query("budget"), config.jobs.tickBudgetMs);
    const schedule = scheduler.get(name);
    const taskName = schedule?.taskName ?? name;
    const task = jobs.getTask(taskName);
    // A schedule runs with its own payload; a task only if it was declared `manual`, so the
    // trigger key cannot, say, send an e-mail of its choosing through mail.send.
    if (!task?.durable || (!schedule && !task.manual)) {
      throw new AppError(
        "unknown_job",
        `There is no schedule or manual task named "${name}". GET /api/v1/jobs/ lists them.`,
        { status: 404 },
      );
    }
    let payload: unknown;
    if (schedule) {
      payload = schedule.payload(new Date(clock.now()));
    } else {
      const text = await c.req.text();
      try {
        payload = text.trim() === "" ? {} : JSON.parse(text);
      } catch {
        throw new AppError("invalid_json", "The body is not valid JSON.", { status: 400 });
      }
    }
    const job = await jobs.enqueue(task, payload);
    const drained = await jobs.drain({ jobIds: [job.id], budgetMs, trigger: "http" });
    const outcome = drained.outcomes.find((o) => o.jobId === job.id);
    const body = {
      job_id: job.id,
      task: taskName,
      outcome: outcome?.outcome ?? job.status,
      ...(outcome?.error ? { error_detail: outcome.error } : {}),
    };
    if (outcome?.outcome === "succeeded") return c.json({ status: "success", ...body });
    if (outcome?.outcome === "failed" || outcome?.outcome === "dead") {
      return c.json(
        {
          status: "error",
          error: "job_failed",
          message: `The job ${outcome.outcome === "dead" ? "failed for good" : "failed and will be retried"}: ${outcome.error ?? ""}`,
          ...body,
        },
        502,
      );
    }
    return c.json({ status: "accepted", ...body }, 202);
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

/** The methods the app's routes answer for a path (with or without its trailing slash). */
function methodsByPath(app: Hono<Env>): (path: string) => string[] {
  const routes = app.routes
    .filter((route) => route.method !== "ALL")
    .map((route) => ({
      method: route.method,
      pattern: new RegExp(`^${route.path.replace(/:[^/]+/g, "[^/]+")}$`),
    }));
  return (path) => {
    const wanted = path.length > 1 ? path.replace(/\/+$/, "") : path;
    const methods = new Set(
      routes.filter((route) => route.pattern.test(wanted)).map((route) => route.method),
    );
    if (methods.has("GET")) methods.add("HEAD");
    return [...methods];
  };
}

/** `?budget=` in seconds, or the default; refuses anything but a number from 1 to 300. */
function parseBudget(value: string | undefined, fallbackMs: number): number {
  if (value === undefined || value === "") return fallbackMs;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > 300) {
    throw new AppError(
      "invalid_budget",
      `\`budget\` must be a number of seconds from 1 to 300, got "${value.slice(0, 20)}".`,
      { status: 400 },
    );
  }
  return seconds * 1000;
}
