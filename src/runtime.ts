import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { createAuditTask } from "./audit/audit-log.js";
import { type Clock, systemClock } from "./clock.js";
import type { Config } from "./config.js";
import { type Database, describePostgresUrl, openDatabase } from "./db/database.js";
import { migrate } from "./db/migrations.js";
import { AppError, describeError } from "./errors.js";
import { buildApp } from "./http/app.js";
import { createCheckLowStockTask, dailyLowStockSchedule } from "./inventory/daily-check.js";
import { JobEngine, type JobEngineOptions } from "./jobs/engine.js";
import type { AnyTask } from "./jobs/task.js";
import { createLogger, type Logger } from "./logger.js";
import { createMailer, type Mailer } from "./mail/mailer.js";
import { createSendMailTask } from "./mail/send-mail-task.js";
import { createLateAlert } from "./schedules/late-alert.js";
import type { Schedule } from "./schedules/schedule.js";
import { Scheduler } from "./schedules/scheduler.js";

/** The service's own schedules. */
export const SERVICE_SCHEDULES: Schedule[] = [dailyLowStockSchedule];

export interface RuntimeOptions {
  config: Config;
  logger?: Logger;
  clock?: Clock;
  /** Extra certificate authorities to trust for SMTP (tests use a certificate of their own). */
  tlsCa?: string | Buffer;
  consoleOut?: NodeJS.WritableStream;
  /** Engine settings to override (tests shorten leases and timers). */
  jobs?: Partial<Omit<JobEngineOptions, "database" | "logger" | "clock" | "tasks">>;
  /** Tasks besides the service's own. */
  tasks?: AnyTask[];
  /** The schedules; default the service's own (the daily low-stock check). */
  schedules?: Schedule[];
}

/**
 * Open the database of DATABASE_URL and check that it answers, or fail with a message that
 * names the variable and the database (never its password).
 */
export async function connectDatabase(config: Pick<Config, "database">): Promise<Database> {
  const unreachable = (label: string, error: unknown) =>
    new AppError(
      "database_unreachable",
      `Could not reach the database of DATABASE_URL (${label}): ${describeError(error)}`,
    );
  let database: Database;
  try {
    database = openDatabase(config.database);
  } catch (error) {
    const label =
      config.database.engine === "sqlite"
        ? config.database.url
        : describePostgresUrl(config.database.url);
    throw unreachable(label, error);
  }
  try {
    await database.ping(10_000);
  } catch (error) {
    await database.close().catch(() => {});
    throw unreachable(database.label, error);
  }
  return database;
}

/** Everything but the HTTP server: the database (migrated), the mailer and the engine. */
export interface Runtime {
  config: Config;
  logger: Logger;
  clock: Clock;
  database: Database;
  mailer: Mailer;
  jobs: JobEngine;
  scheduler: Scheduler;
  close(graceMs?: number): Promise<void>;
}

export async function openRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { config } = options;
  const logger = options.logger ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;
  const database = await connectDatabase(config);
  try {
    const migrated = await migrate(database);
    if (migrated.applied.length > 0)
      logger.info({ applied: migrated.applied }, "database migrated");
  } catch (error) {
    await database.close();
    throw error;
  }

  const mailer = createMailer({
    config: config.email,
    logger,
    ...(options.tlsCa ? { tlsCa: options.tlsCa } : {}),
    ...(options.consoleOut ? { consoleOut: options.consoleOut } : {}),
  });
  const jobs = new JobEngine({
    database,
    logger,
    clock,
    tasks: [createSendMailTask(mailer), createAuditTask(clock), ...(options.tasks ?? [])],
    timerMs: config.jobs.timerMs,
    retentionMs: config.jobs.retentionDays * 86_400_000,
    ...options.jobs,
  });
  jobs.register(createCheckLowStockTask({ jobs, clock, recipients: config.lowStockAlertEmails }));

  const scheduler = new Scheduler({
    db: database.db,
    jobs,
    clock,
    logger,
    schedules: options.schedules ?? SERVICE_SCHEDULES,
    onLate: createLateAlert({ jobs, adminEmails: config.adminEmails, logger }),
  });
  await scheduler.init();
  // While the process is awake, the timer fires due slots too, not only the cron.
  jobs.onTimer(async () => {
    await scheduler.fireDue("timer");
  });

  let closing: Promise<void> | undefined;
  return {
    config,
    logger,
    clock,
    database,
    mailer,
    jobs,
    scheduler,
    close(graceMs = config.jobs.shutdownGraceMs) {
      closing ??= (async () => {
        await jobs.stop(graceMs);
        await mailer.close();
        await database.close();
      })();
      return closing;
    },
  };
}

export interface Service extends Runtime {
  server: Server;
  /** The base URL the server listens on, such as http://127.0.0.1:43121. */
  url: string;
  port: number;
  /** Stop taking requests, let running ones and jobs finish up to the grace, then close. */
  stop(graceMs?: number): Promise<void>;
}

/** Open the runtime and serve HTTP; the timer starts draining at once. */
export async function startService(options: RuntimeOptions): Promise<Service> {
  const runtime = await openRuntime(options);
  const { config, logger } = runtime;
  const app = buildApp(runtime);

  let server: Server;
  try {
    server = await new Promise<Server>((resolve, reject) => {
      const started = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () =>
        resolve(started as Server),
      ) as Server;
      started.once("error", reject);
    });
  } catch (error) {
    await runtime.close(0);
    throw new AppError(
      "listen_failed",
      `Could not listen on HOST ${config.host}, PORT ${config.port}: ${describeError(error)}`,
    );
  }
  const port = (server.address() as AddressInfo).port;
  const shownHost = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  const url = `http://${shownHost}:${port}`;
  runtime.jobs.start();
  logger.info(
    {
      url,
      listening: `${config.host}:${port}`,
      database: runtime.database.label,
      mail: config.email.backend,
    },
    "service started",
  );

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = config.jobs.shutdownGraceMs) => {
    stopping ??= (async () => {
      const deadline = Date.now() + graceMs;
      logger.info({ graceMs }, "stopping");

      // Stop taking requests, and let the ones in progress finish within the grace.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const left = () => Math.max(0, deadline - Date.now());
      await Promise.race([closed, new Promise((r) => setTimeout(r, left()).unref())]);
      server.closeAllConnections();

      await runtime.close(left());
      logger.info("stopped");
    })();
    return stopping;
  };

  return { ...runtime, server, url, port, stop };
}
