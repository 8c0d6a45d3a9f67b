import { type ChildProcess, spawn } from "node:child_process";
import { sql } from "kysely";
import { z } from "zod";
import { systemClock } from "../../src/clock.js";
import type { Database } from "../../src/db/database.js";
import { JobEngine } from "../../src/jobs/engine.js";
import { defineTask } from "../../src/jobs/task.js";
import { createLogger } from "../../src/logger.js";
import { migratedDatabase, type TestEngine } from "./databases.js";
import { waitFor } from "./jobs.js";

/** The payload shape of the crash worker's task, for enqueueing from a test. */
export const recordEffectTask = defineTask({
  name: "test.record-effect",
  payload: z.object({ n: z.number().int() }),
  handler: () => {
    throw new Error("this process only enqueues; the crash worker runs the task");
  },
});

/**
 * A migrated database of `engine` with the `effects` table the crash worker writes to, and
 * `jobs` record-effect jobs queued in it (payloads 0 to jobs - 1); `ids` are theirs.
 */
export async function databaseWithEffectJobs(engine: TestEngine, jobs: number) {
  const prepared = await migratedDatabase(engine);
  const { database } = prepared;
  await sql`create table effects (job_id bigint not null, n integer not null, pid integer not null)`.execute(
    database.db,
  );
  const enqueuer = new JobEngine({
    database,
    logger: createLogger("silent"),
    clock: systemClock,
    tasks: [recordEffectTask],
    timerMs: 0,
  });
  const ids = await enqueuer.enqueueMany(
    recordEffectTask,
    Array.from({ length: jobs }, (_, n) => ({ n })),
  );
  return { ...prepared, ids };
}

/** The name a crash worker's PostgreSQL connections carry, so a test can wait for them. */
const WORKER_APPLICATION_NAME = "davus-crash-worker";

/** A crash worker on the database at `url`: it drains until no job is left, then exits 0. */
export function startEffectWorker(url: string, leaseMs: number): ChildProcess {
  const workerUrl = url.startsWith("postgres")
    ? `${url}${url.includes("?") ? "&" : "?"}application_name=${WORKER_APPLICATION_NAME}`
    : url;
  return spawn(process.execPath, ["--import", "tsx", "test/fixtures/crash-worker.ts"], {
    env: { ...process.env, DATABASE_URL: workerUrl, LEASE_MS: String(leaseMs) },
    stdio: ["ignore", "ignore", "inherit"],
  });
}

/**
 * After a worker is killed, waits until PostgreSQL has closed its connections. A statement
 * the worker sent just before it died (a claim, say) still runs and commits on the server;
 * only once its backends are gone does the database show what the dead process left.
 * SQLite has no server, so there is nothing to wait for.
 */
export async function workerConnectionsClosed(database: Database): Promise<void> {
  if (database.engine !== "postgres") return;
  await waitFor(
    "the killed worker's PostgreSQL connections to close",
    async () => {
      const result = await sql<{ count: number }>`
        select count(*) as count from pg_stat_activity
        where datname = current_database() and application_name = ${WORKER_APPLICATION_NAME}`.execute(
        database.db,
      );
      return Number(result.rows[0]?.count ?? 0) === 0;
    },
    30_000,
  );
}

/** For each job with an effect: how many times it was recorded, and by how many processes. */
export async function effectsPerJob(
  database: Database,
): Promise<{ jobId: number; times: number; pids: number }[]> {
  const rows = await sql<{ job_id: number; times: number; pids: number }>`
    select job_id, count(*) as times, count(distinct pid) as pids from effects group by job_id`.execute(
    database.db,
  );
  return rows.rows.map((row) => ({
    jobId: Number(row.job_id),
    times: Number(row.times),
    pids: Number(row.pids),
  }));
}
