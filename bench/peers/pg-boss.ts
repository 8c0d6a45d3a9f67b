/**
 * pg-boss, measured the way this project is: no-op jobs on a fresh database of the same server,
 * with its settings for throughput. It is a dev dependency used only here.
 *
 * Polling alone caps a pg-boss worker at a batch per polling interval (0.5 s at the least), so
 * both modes fetch again at once while there is work: `burstWhenBatchFull` when each worker takes
 * batches of 100, `burstWhenReadyExceeds` (read from the queue statistics, counted by a
 * `supervise()` call after the insert and reloaded by pg-boss every second, the shortest it
 * allows) when each takes one job at a time.
 */
import { type ConstructorOptions, PgBoss, type WorkOptions } from "pg-boss";
import {
  type BenchDatabase,
  deferred,
  enqueueRates,
  percentile,
  vacuumAnalyze,
  waitUntilNone,
} from "../harness.js";

export type BossMode = "batched" | "per job";

const QUEUE = "noop";
const JOBS_TABLE = "pgboss.job";

export function describeMode(mode: BossMode, concurrency: number): string {
  return mode === "batched"
    ? "batchSize 100, burstWhenBatchFull, localConcurrency 4"
    : `batchSize 1, localConcurrency ${concurrency}, burstWhenReadyExceeds 1, pool ${concurrency + 2}`;
}

function workOptions(mode: BossMode, concurrency: number): WorkOptions {
  return mode === "batched"
    ? { batchSize: 100, burstWhenBatchFull: true, localConcurrency: 4 }
    : { batchSize: 1, localConcurrency: concurrency, burstWhenReadyExceeds: 1 };
}

/** A started instance with the queue created; errors are kept to fail the run, not printed. */
async function startBoss(target: BenchDatabase, options: ConstructorOptions = {}) {
  const boss = new PgBoss({ connectionString: target.url, schedule: false, ...options });
  const errors: unknown[] = [];
  boss.on("error", (error) => errors.push(error));
  boss.on("warning", () => {});
  await boss.start();
  return { boss, errors };
}

/**
 * Jobs per second: `count` jobs inserted in one `insert` call, the table vacuumed, then workers
 * started; the clock stops when every job is stored as completed.
 */
export async function bossDrain(
  target: BenchDatabase,
  count: number,
  concurrency: number,
  mode: BossMode,
): Promise<number> {
  const perJob = mode === "per job";
  // The per-job mode's burst reads the ready count that pg-boss caches from the queue row;
  // reload that cache as often as allowed. No background supervision: its statistics pass
  // scans the whole job table, which would only slow the run down.
  const { boss, errors } = await startBoss(target, {
    supervise: false,
    ...(perJob ? { max: concurrency + 2, queueCacheIntervalSeconds: 1 } : {}),
  });
  try {
    await boss.createQueue(QUEUE);
    await boss.insert(
      QUEUE,
      Array.from({ length: count }, (_, n) => ({ data: { n } })),
    );
    await vacuumAnalyze(target.url, JOBS_TABLE);
    if (perJob) {
      // Count the backlog now and let the cache pick it up, as it would have in a running
      // service: without it the first second runs at polling speed.
      await boss.supervise(QUEUE);
      await waitForReadyCount(boss, count);
    }

    let done = 0;
    const allStarted = deferred();
    const started = performance.now();
    await boss.work(QUEUE, workOptions(mode, concurrency), async (jobs) => {
      done += jobs.length;
      if (done === count) allStarted.resolve();
    });
    await allStarted.promise;
    await waitUntilNone(
      target.url,
      `select count(*) as n from ${JOBS_TABLE} where name = '${QUEUE}' and state <> 'completed'`,
    );
    const rate = count / ((performance.now() - started) / 1000);
    if (errors.length > 0) throw new Error(`pg-boss reported: ${String(errors[0])}`);
    return rate;
  } finally {
    await boss.stop({ graceful: true, timeout: 5_000 });
  }
}

/** Wait until pg-boss's in-memory queue statistics (refreshed every second) show the backlog. */
async function waitForReadyCount(boss: PgBoss, count: number): Promise<void> {
  const stored = await boss.getQueue(QUEUE);
  if ((stored?.readyCount ?? 0) < count) {
    throw new Error(`pg-boss counted ${stored?.readyCount} ready jobs of ${count}`);
  }
  // The cache is private; it is refreshed from the row just read within a second.
  await new Promise((resolve) => setTimeout(resolve, 1_100));
}

/** Jobs per second of `send` one at a time (each its own commit), and of `insert` by 500. */
export async function bossEnqueue(
  target: BenchDatabase,
  one: number,
  batch: number,
): Promise<{ one: number; batch: number }> {
  const { boss, errors } = await startBoss(target, { supervise: false });
  try {
    await boss.createQueue(QUEUE);
    const rates = await enqueueRates(
      { one, batch, perCall: 500 },
      (payload) => boss.send(QUEUE, payload),
      (payloads) =>
        boss.insert(
          QUEUE,
          payloads.map((data) => ({ data })),
        ),
    );
    if (errors.length > 0) throw new Error(`pg-boss reported: ${String(errors[0])}`);
    return rates;
  } finally {
    await boss.stop({ graceful: true, timeout: 5_000 });
  }
}

/**
 * Enqueue to handler start at concurrency 1, at its fastest wake-up: LISTEN/NOTIFY on
 * (`useListenNotify` and a `notify` queue), one worker taking one job, polling every 0.5 s as
 * the fallback. The clock runs from `send`'s return to the handler's first line.
 */
export async function bossLatency(
  target: BenchDatabase,
  count: number,
): Promise<{ p50: number; p99: number }> {
  const { boss, errors } = await startBoss(target, { supervise: false, useListenNotify: true });
  try {
    await boss.createQueue(QUEUE, { notify: true });
    let onStart = () => {};
    await boss.work(
      QUEUE,
      { batchSize: 1, localConcurrency: 1, pollingIntervalSeconds: 0.5 },
      async () => onStart(),
    );
    const samples: number[] = [];
    // A few jobs first, unmeasured, so that the listener and connections exist.
    for (let n = -5; n < count; n++) {
      const started = deferred<number>();
      onStart = () => started.resolve(performance.now());
      await boss.send(QUEUE, { n });
      const sentAt = performance.now();
      const startedAt = await started.promise;
      if (n >= 0) samples.push(startedAt - sentAt);
    }
    if (errors.length > 0) throw new Error(`pg-boss reported: ${String(errors[0])}`);
    return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
  } finally {
    await boss.stop({ graceful: true, timeout: 5_000 });
  }
}
