import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import * as z from "zod";
import { systemClock } from "../src/clock.js";
import type { DatabaseConfig } from "../src/config.js";
import { type Database, openDatabase } from "../src/db/database.js";
import { migrate } from "../src/db/migrations.js";
import { JobEngine, type JobEngineOptions } from "../src/jobs/engine.js";
import { defineTask, type TaskDefinition } from "../src/jobs/task.js";
import { createLogger } from "../src/logger.js";

/** A fresh database for one measurement; `drop` removes it. */
export interface BenchDatabase {
  config: DatabaseConfig;
  url: string;
  drop(): Promise<void>;
}

export async function freshSqlite(): Promise<BenchDatabase> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "davus-bench-"));
  const file = path.join(dir, "bench.sqlite");
  return {
    config: { engine: "sqlite", path: file, url: `sqlite:${file}` },
    url: `sqlite:${file}`,
    async drop() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function freshPostgres(adminUrl: string): Promise<BenchDatabase> {
  const name = `davus_bench_${randomBytes(5).toString("hex")}`;
  await adminQuery(adminUrl, `create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    config: { engine: "postgres", url: url.toString() },
    url: url.toString(),
    async drop() {
      await adminQuery(adminUrl, `drop database if exists ${name} with (force)`);
    },
  };
}

export async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

export interface NoopBench {
  database: Database;
  jobs: JobEngine;
  task: TaskDefinition<{ n: number }>;
  /** Called by the handler at its start, with the payload's n. */
  onStart: (n: number) => void;
  close(): Promise<void>;
}

/** A migrated database and an engine with one no-op task, loggers silenced. */
export async function noopEngine(
  target: BenchDatabase,
  options: Partial<JobEngineOptions> = {},
): Promise<NoopBench> {
  const database = openDatabase(target.config, { poolSize: 30 });
  await migrate(database);
  const bench = { onStart: (_n: number) => {} } as NoopBench;
  const task = defineTask({
    name: "bench.noop",
    payload: z.object({ n: z.number() }),
    handler: ({ payload }) => {
      bench.onStart(payload.n);
    },
  });
  const jobs = new JobEngine({
    database,
    logger: createLogger("silent"),
    clock: systemClock,
    tasks: [task],
    timerMs: 0,
    ...options,
  });
  return Object.assign(bench, {
    database,
    jobs,
    task,
    async close() {
      await jobs.stop(1_000);
      await database.close();
    },
  });
}

/**
 * Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one
 * machine: both take the process's time origin (a wall-clock reading at its start) plus the
 * monotonic time since. `Date.now()` has only whole milliseconds, and `performance.now()`
 * alone counts from each process's own start.
 */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** `vacuum analyze` a table (vacuum cannot run inside a transaction, so on its own connection). */
export async function vacuumAnalyze(url: string, table: string): Promise<void> {
  await adminQuery(url, `vacuum analyze ${table}`);
}

/** A promise with its resolve and reject at hand (Node 20 lacks `Promise.withResolvers`). */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

/**
 * Run `query` (which answers one row with a numeric `n`) on its own connection until `n` is 0,
 * and return when it is: how a benchmark tells that a peer has written every outcome.
 */
export async function waitUntilNone(url: string, query: string, timeoutMs = 60_000): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query<{ n: number | string }>(query);
      if (Number(rows[0]?.n ?? 0) === 0) return;
      if (performance.now() > deadline) throw new Error(`still ${rows[0]?.n} left: ${query}`);
    }
  } finally {
    await client.end();
  }
}

/** Open `size` connections of `pool` at once and give them back, so none is opened mid-run. */
export async function warmPool(pool: pg.Pool, size: number): Promise<void> {
  const clients = await Promise.all(Array.from({ length: size }, () => pool.connect()));
  for (const client of clients) client.release();
}

/**
 * Jobs per second of enqueueing `one` jobs one at a time (each its own commit), then `batch`
 * jobs in calls of `perCall` payloads. Each payload is `{ n }`.
 */
export async function enqueueRates(
  counts: { one: number; batch: number; perCall: number },
  addOne: (payload: { n: number }) => Promise<unknown>,
  addMany: (payloads: { n: number }[]) => Promise<unknown>,
): Promise<{ one: number; batch: number }> {
  const { one, batch, perCall } = counts;
  let started = performance.now();
  for (let n = 0; n < one; n++) await addOne({ n });
  const oneRate = one / ((performance.now() - started) / 1000);

  started = performance.now();
  for (let from = 0; from < batch; from += perCall) {
    const size = Math.min(perCall, batch - from);
    await addMany(Array.from({ length: size }, (_, i) => ({ n: from + i })));
  }
  const batchRate = batch / ((performance.now() - started) / 1000);
  return { one: oneRate, batch: batchRate };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ] as number;
}
