import { type Kysely, type Selectable, sql } from "kysely";
import { afterEach, beforeEach } from "vitest";
import { FakeClock } from "../../src/clock.js";
import type { Database } from "../../src/db/database.js";
import type { Job, JobRunsTable, Schema } from "../../src/db/schema.js";
import { JobEngine, type JobEngineOptions } from "../../src/jobs/engine.js";
import { migratedDatabase, type TestEngine } from "./databases.js";
import { captureLogs } from "./logs.js";

/** Where every fake clock starts: a Monday morning, so dates in failures are easy to read. */
export const START = Date.parse("2026-03-02T09:00:00.000Z");

export type JobRun = Selectable<JobRunsTable>;
export type CapturedLogs = ReturnType<typeof captureLogs>;
export type EngineOptions = Partial<JobEngineOptions> & Pick<JobEngineOptions, "tasks">;

/** One test's world: a fresh migrated database, a fake clock, captured logs, engines. */
export interface JobsWorld {
  database: Database;
  clock: FakeClock;
  logs: CapturedLogs;
  /** A job engine on this test's database; the timer is off unless `timerMs` says otherwise. */
  engine(options: EngineOptions): JobEngine;
  job(id: number): Promise<Job>;
  runs(jobId: number): Promise<JobRun[]>;
  countRows(table: "jobs" | "job_runs" | "orders"): Promise<number>;
}

/**
 * Gives each test of the enclosing `describe` a new database of `engine`, with an `orders`
 * table for business rows, and stops every engine the test built before dropping it.
 */
export function useJobsWorld(engine: TestEngine): JobsWorld {
  const built: JobEngine[] = [];
  let dispose: (() => Promise<void>) | undefined;

  const world: JobsWorld = {
    database: undefined as unknown as Database,
    clock: new FakeClock(START),
    logs: captureLogs("debug"),
    engine(options) {
      const jobs = new JobEngine({
        database: world.database,
        logger: world.logs.logger,
        clock: world.clock,
        worker: `worker-${built.length + 1}`,
        leaseMs: 30_000,
        timerMs: 0,
        random: () => 0.5,
        ...options,
      });
      built.push(jobs);
      return jobs;
    },
    async job(id) {
      return world.database.db
        .selectFrom("jobs")
        .selectAll()
        .where("id", "=", id)
        .executeTakeFirstOrThrow();
    },
    async runs(jobId) {
      return world.database.db
        .selectFrom("job_runs")
        .selectAll()
        .where("job_id", "=", jobId)
        .orderBy("id")
        .execute();
    },
    async countRows(table) {
      const result = await sql<{ count: number | string }>`
        select count(*) as count from ${sql.table(table)}`.execute(world.database.db);
      return Number(result.rows[0]?.count);
    },
  };

  beforeEach(async () => {
    const created = await migratedDatabase(engine);
    dispose = created.dispose;
    world.database = created.database;
    world.clock = new FakeClock(START);
    world.logs = captureLogs("debug");
    await sql`create table orders (reference text primary key)`.execute(created.database.db);
  });

  afterEach(async () => {
    // Stop before closing: a job still held would otherwise renew against a closed pool.
    await Promise.all(built.splice(0).map((jobs) => jobs.stop(200)));
    await dispose?.();
    dispose = undefined;
  });

  return world;
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves once `check` answers true; fails after `timeoutMs` with `what` in the message. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Resolves when `signal` aborts, with its reason; for handlers that run until told to stop. */
export function untilAborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener("abort", () => resolve(signal.reason), { once: true });
  });
}

/** Counts handlers running at once; `max` is the most seen together. */
export class ConcurrencyProbe {
  running = 0;
  max = 0;

  async around<T>(work: () => Promise<T>): Promise<T> {
    this.running++;
    this.max = Math.max(this.max, this.running);
    try {
      return await work();
    } finally {
      this.running--;
    }
  }
}

/** Inserts a business row in `orders`, through `db` (the database or a transaction on it). */
export async function insertOrder(db: Kysely<Schema>, reference: string): Promise<void> {
  await sql`insert into orders (reference) values (${reference})`.execute(db);
}

/**
 * How many rows of `table` hold each value of `column` (jobs by status, runs by outcome), as
 * [value, count] pairs in the order of the values.
 */
export async function countsBy<Table extends "jobs" | "job_runs">(
  database: Database,
  table: Table,
  column: Table extends "jobs" ? "status" : "outcome",
): Promise<[string, number][]> {
  const result = await sql<{ value: string; count: number | string }>`
    select ${sql.ref(column)} as value, count(*) as count from ${sql.table(table)}
    group by ${sql.ref(column)} order by ${sql.ref(column)}`.execute(database.db);
  return result.rows.map((row) => [row.value, Number(row.count)]);
}
