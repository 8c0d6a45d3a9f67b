import Database from "better-sqlite3";
import { openDatabase } from "../src/db/database.js";
import { migrate } from "../src/db/migrations.js";
import type { Job } from "../src/db/schema.js";
import { SQLITE_JOB_STATEMENTS } from "../src/jobs/job-store.js";
import { type CrossProcessLatency, measureCrossProcess } from "./cross-process.js";
import {
  type BenchDatabase,
  deferred,
  enqueueRates,
  freshSqlite,
  noopEngine,
  percentile,
  vacuumAnalyze,
} from "./harness.js";

/** Jobs per second of `drain` over `count` no-op jobs enqueued in one batch. */
export async function drainThroughput(
  target: BenchDatabase,
  count: number,
  concurrency: number,
): Promise<number> {
  const bench = await noopEngine(target, { concurrency, batchSize: Math.max(50, concurrency * 4) });
  try {
    await bench.jobs.enqueueMany(
      bench.task,
      Array.from({ length: count }, (_, n) => ({ n })),
    );
    if (target.config.engine === "postgres") await vacuumAnalyze(target.url, "jobs");
    const started = performance.now();
    const result = await bench.jobs.drain({ budgetMs: 600_000, concurrency, trigger: "cli" });
    const seconds = (performance.now() - started) / 1000;
    if (result.counts.succeeded !== count) {
      throw new Error(`drain ran ${result.counts.succeeded} of ${count} jobs`);
    }
    return count / seconds;
  } finally {
    await bench.close();
  }
}

/** Jobs per second of enqueue: one at a time (each its own commit), and in one batch. */
export async function enqueueThroughput(
  target: BenchDatabase,
  one: number,
  batch: number,
): Promise<{ one: number; batch: number }> {
  // No inline-first run, so only the enqueue is measured.
  const bench = await noopEngine(target, { inlineFirstLimit: 0 });
  try {
    // The batch goes in one call: enqueueMany stores 500 a statement itself.
    return await enqueueRates(
      { one, batch, perCall: batch },
      (payload) => bench.jobs.enqueue(bench.task, payload),
      (payloads) => bench.jobs.enqueueMany(bench.task, payloads),
    );
  } finally {
    await bench.close();
  }
}

/**
 * Commit to handler start on the inline-first path, in milliseconds: each job is enqueued
 * alone (its own commit) and the clock runs from the enqueue's return to the handler's start.
 */
export async function inlineFirstLatency(
  target: BenchDatabase,
  count: number,
): Promise<{ p50: number; p99: number }> {
  const bench = await noopEngine(target);
  const samples: number[] = [];
  try {
    for (let n = 0; n < count; n++) {
      const started = deferred<number>();
      bench.onStart = () => started.resolve(performance.now());
      await bench.jobs.enqueue(bench.task, { n });
      const committedAt = performance.now();
      samples.push((await started.promise) - committedAt);
    }
    await bench.jobs.idle();
    return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
  } finally {
    await bench.close();
  }
}

/**
 * Commit to handler start across processes, in milliseconds: this process (A) enqueues each job
 * alone, with no inline-first run, and a second process (B, an engine started on the same
 * database at concurrency 1) runs it. See bench/cross-process.ts.
 */
export async function crossProcessLatency(
  target: BenchDatabase,
  count: number,
): Promise<CrossProcessLatency> {
  const bench = await noopEngine(target, { inlineFirstLimit: 0, timerMs: 0 });
  try {
    return await measureCrossProcess(target, count, "davus", async (n) => {
      await bench.jobs.enqueue(bench.task, { n });
    });
  } finally {
    await bench.close();
  }
}

/**
 * The floor for SQLite: the engine's own writes per job, on the project's migrated schema
 * (same tables, same indexes), with the engine's statements, straight through better-sqlite3
 * in one synchronous loop: claims of 50 due jobs in one statement, then their 50 completions
 * (the job's end and its run row) in one transaction.
 */
export async function rawSqliteLoop(count: number): Promise<number> {
  const target = await freshSqlite();
  const migrated = openDatabase(target.config);
  await migrate(migrated);
  await migrated.close();
  const db = new Database(sqlitePath(target));
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    const insert = db.prepare(`insert into jobs (task, payload, status, priority, run_at,
      attempts, max_attempts, created_at, updated_at) values ('noop', ?, 'queued', 0, ?, 0, 10, ?, ?)`);
    const now0 = Date.now();
    db.transaction(() => {
      for (let n = 0; n < count; n++) insert.run(JSON.stringify({ n }), now0, now0, now0);
    })();

    const claim = db.prepare(SQLITE_JOB_STATEMENTS.claimDue);
    const end = db.prepare(SQLITE_JOB_STATEMENTS.endAttempt);
    const record = db.prepare(SQLITE_JOB_STATEMENTS.recordRun);
    const completeBatch = db.transaction((jobs: Job[], now: number) => {
      for (const job of jobs) {
        end.run("succeeded", null, null, now, now, job.id, "w");
        record.run(job.id, job.task, job.attempts, now, now, 0, "succeeded", null, "cli", "w");
      }
    });

    const started = performance.now();
    let done = 0;
    for (;;) {
      const now = Date.now();
      const jobs = db.transaction(() => claim.all("w", now + 60_000, now, now, now, 50))() as Job[];
      if (jobs.length === 0) break;
      for (const job of jobs) JSON.parse(job.payload);
      completeBatch(jobs, now);
      done += jobs.length;
    }
    if (done !== count) throw new Error(`raw loop ran ${done} of ${count}`);
    return count / ((performance.now() - started) / 1000);
  } finally {
    db.close();
    await target.drop();
  }
}

/**
 * For scale: the same three steps on a minimal table (one partial index, no run history
 * index, no lease index), as a job queue with nothing else to keep could do them.
 */
export async function minimalSqliteLoop(count: number): Promise<number> {
  const target = await freshSqlite();
  const db = new Database(sqlitePath(target));
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.exec(`create table jobs (id integer primary key, task text, payload text, status text, run_at integer,
      attempts integer, locked_by text, locked_until integer, finished_at integer);
      create index jobs_due on jobs (run_at) where status = 'queued';
      create table job_runs (id integer primary key, job_id integer, started_at integer, finished_at integer, outcome text)`);
    const insert = db.prepare(
      "insert into jobs (task, payload, status, run_at, attempts) values ('noop', ?, 'queued', ?, 0)",
    );
    db.transaction(() => {
      for (let n = 0; n < count; n++) insert.run(JSON.stringify({ n }), Date.now());
    })();

    const claim =
      db.prepare(`update jobs set status = 'running', attempts = attempts + 1, locked_by = 'w', locked_until = ?
      where id in (select id from jobs where status = 'queued' and run_at <= ? order by run_at, id limit 50) returning id, payload`);
    const complete = db.prepare(
      "update jobs set status = 'succeeded', locked_by = null, finished_at = ? where id = ?",
    );
    const record = db.prepare(
      "insert into job_runs (job_id, started_at, finished_at, outcome) values (?, ?, ?, 'succeeded')",
    );
    const completeBatch = db.transaction((rows: { id: number }[], now: number) => {
      for (const row of rows) {
        complete.run(now, row.id);
        record.run(row.id, now, now);
      }
    });

    const started = performance.now();
    let done = 0;
    for (;;) {
      const now = Date.now();
      const rows = claim.all(now + 60_000, now) as { id: number; payload: string }[];
      if (rows.length === 0) break;
      for (const row of rows) JSON.parse(row.payload);
      completeBatch(rows, now);
      done += rows.length;
    }
    if (done !== count) throw new Error(`minimal loop ran ${done} of ${count}`);
    return count / ((performance.now() - started) / 1000);
  } finally {
    db.close();
    await target.drop();
  }
}

function sqlitePath(target: BenchDatabase): string {
  if (target.config.engine !== "sqlite") throw new Error("a SQLite database was expected");
  return target.config.path;
}

/** Run `measure` `runs` times, each on a fresh database; the values in the order measured. */
export async function measureRuns<Figures>(
  runs: number,
  fresh: () => Promise<BenchDatabase>,
  measure: (target: BenchDatabase) => Promise<Figures>,
): Promise<Figures[]> {
  const values: Figures[] = [];
  for (let run = 0; run < runs; run++) {
    const target = await fresh();
    try {
      values.push(await measure(target));
    } finally {
      await target.drop();
    }
  }
  return values;
}
