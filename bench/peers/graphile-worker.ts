/**
 * graphile-worker, measured the way this project is: no-op jobs on a fresh database of the same
 * server, its logger silenced. It is a dev dependency used only here.
 */
import { Logger, makeWorkerUtils, run, type TaskList, type WorkerUtils } from "graphile-worker";
import pg from "pg";
import { type CrossProcessLatency, measureCrossProcess } from "../cross-process.js";
import {
  type BenchDatabase,
  deferred,
  enqueueRates,
  percentile,
  vacuumAnalyze,
  waitUntilNone,
  warmPool,
} from "../harness.js";

export type GraphileMode = "defaults" | "batched";

const silent = new Logger(() => () => {});
const JOBS_TABLE = "graphile_worker._private_jobs";
const TASK = "noop";

/** What each mode sets besides the concurrency; the rest is graphile-worker's own default. */
function settings(mode: GraphileMode, concurrency: number) {
  if (mode === "defaults") return { concurrentJobs: concurrency, maxPoolSize: 10 };
  return {
    concurrentJobs: concurrency,
    maxPoolSize: concurrency + 1,
    localQueue: { size: 500 },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
  };
}

export function describeMode(mode: GraphileMode, concurrency: number): string {
  const set = settings(mode, concurrency);
  return mode === "defaults"
    ? `concurrentJobs ${concurrency}, maxPoolSize 10 (default)`
    : `concurrentJobs ${concurrency}, maxPoolSize ${set.maxPoolSize}, localQueue.size 500, complete/failJobBatchDelay 0`;
}

async function withUtils<T>(target: BenchDatabase, work: (utils: WorkerUtils) => Promise<T>) {
  const pool = ownPool(target, 10);
  const utils = await makeWorkerUtils({ pgPool: pool, logger: silent });
  try {
    await utils.migrate();
    return await work(utils);
  } finally {
    await utils.release();
    await pool.end();
  }
}

/**
 * A pool for the runner, the size it would make itself. Its own would be ended without waiting
 * at `stop()`, and a connection still open when the database is dropped would then crash the
 * process; this one is ended before the drop, and a dropped connection is ignored.
 */
function ownPool(target: BenchDatabase, size: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: target.url, max: size });
  pool.on("error", () => {});
  pool.on("connect", (client) => client.on("error", () => {}));
  return pool;
}

/**
 * Jobs per second: `count` jobs added in one `addJobs` call, the table vacuumed, then a runner
 * started on a pool whose connections are already open; the clock stops when the last job is
 * deleted (graphile-worker deletes a job once it completes).
 */
export async function graphileDrain(
  target: BenchDatabase,
  count: number,
  concurrency: number,
  mode: GraphileMode,
): Promise<number> {
  await withUtils(target, async (utils) => {
    await utils.addJobs(
      Array.from({ length: count }, (_, n) => ({ identifier: TASK, payload: { n } })),
    );
  });
  await vacuumAnalyze(target.url, JOBS_TABLE);

  const worker = settings(mode, concurrency);
  const pool = ownPool(target, worker.maxPoolSize);
  await warmPool(pool, worker.maxPoolSize);
  let done = 0;
  const allStarted = deferred();
  const taskList: TaskList = {
    [TASK]: async () => {
      if (++done === count) allStarted.resolve();
    },
  };

  const started = performance.now();
  const runner = await run({
    pgPool: pool,
    logger: silent,
    noHandleSignals: true,
    taskList,
    preset: { worker },
  });
  try {
    await allStarted.promise;
    await waitUntilNone(target.url, `select count(*) as n from ${JOBS_TABLE}`);
    return count / ((performance.now() - started) / 1000);
  } finally {
    await runner.stop();
    await pool.end();
  }
}

/** Jobs per second of `addJob` one at a time (each its own commit), and of `addJobs` by 500. */
export async function graphileEnqueue(
  target: BenchDatabase,
  one: number,
  batch: number,
): Promise<{ one: number; batch: number }> {
  return withUtils(target, (utils) =>
    enqueueRates(
      { one, batch, perCall: 500 },
      (payload) => utils.addJob(TASK, payload),
      (payloads) => utils.addJobs(payloads.map((payload) => ({ identifier: TASK, payload }))),
    ),
  );
}

/**
 * Enqueue to handler start at concurrency 1, default settings (it wakes on LISTEN/NOTIFY): each
 * job added alone through the utilities of the same process, the clock running from `addJob`'s
 * return to the task's first line. The next job is added once the previous one has started.
 */
export async function graphileLatency(
  target: BenchDatabase,
  count: number,
): Promise<{ p50: number; p99: number }> {
  return withUtils(target, async (utils) => {
    let onStart = () => {};
    const pool = ownPool(target, 10);
    const runner = await run({
      pgPool: pool,
      logger: silent,
      noHandleSignals: true,
      taskList: { [TASK]: async () => onStart() },
      preset: { worker: { concurrentJobs: 1 } },
    });
    const samples: number[] = [];
    try {
      // A few jobs first, unmeasured, so that connections and prepared statements exist.
      for (let n = -5; n < count; n++) {
        const started = deferred<number>();
        onStart = () => started.resolve(performance.now());
        await utils.addJob(TASK, { n });
        const addedAt = performance.now();
        const startedAt = await started.promise;
        if (n >= 0) samples.push(startedAt - addedAt);
      }
    } finally {
      await runner.stop();
      await pool.end();
    }
    return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
  });
}

/**
 * Process B's side of the cross-process latency: a runner with default settings at concurrency 1
 * that calls `onStart(n)` at the first line of each job.
 */
export async function startGraphileWorker(
  target: BenchDatabase,
  onStart: (n: number) => void,
): Promise<{ stop(): Promise<void> }> {
  const pool = ownPool(target, 10);
  const runner = await run({
    pgPool: pool,
    logger: silent,
    noHandleSignals: true,
    taskList: { [TASK]: async (payload) => onStart((payload as { n: number }).n) },
    preset: { worker: { concurrentJobs: 1 } },
  });
  return {
    async stop() {
      await runner.stop();
      await pool.end();
    },
  };
}

/**
 * Enqueue to start across processes, as for this project: `addJob` in this process, the runner
 * (defaults, LISTEN/NOTIFY, concurrency 1) in another. See bench/cross-process.ts.
 */
export async function graphileCrossProcessLatency(
  target: BenchDatabase,
  count: number,
): Promise<CrossProcessLatency> {
  return withUtils(target, (utils) =>
    measureCrossProcess(target, count, "graphile-worker", async (n) => {
      await utils.addJob(TASK, { n });
    }),
  );
}
