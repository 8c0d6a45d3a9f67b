/**
 * Process B of the cross-process latency (bench/cross-process.ts): runs no-op jobs at
 * concurrency 1 from the database named by DAVUS_BENCH_DATABASE_URL, and tells its parent, over
 * IPC, the wall-clock time each job started. DAVUS_BENCH_SYSTEM says whose worker runs them:
 *
 * - `davus`: an engine, woken the way the engine offers: LISTEN/NOTIFY when the database
 *   supports it (the engine's own `start()`), otherwise a loop of drains 1 ms apart;
 * - `graphile-worker`: a runner with its default settings (LISTEN/NOTIFY).
 */
import { type BenchDatabase, noopEngine, wallNow } from "./harness.js";

export type WorkerSystem = "davus" | "graphile-worker";

export type WorkerMessage =
  | { type: "ready"; wakeUp: "notify" | "poll" }
  | { type: "started"; id: number; at: number }
  | { type: "pong"; id: number; at: number };

type ParentMessage = { type: "ping"; id: number } | { type: "stop" };

const url = process.env.DAVUS_BENCH_DATABASE_URL;
const system = process.env.DAVUS_BENCH_SYSTEM as WorkerSystem | undefined;
if (!url || !process.send || (system !== "davus" && system !== "graphile-worker")) {
  process.stderr.write(
    "cross-process-worker: run it with fork(), DAVUS_BENCH_DATABASE_URL and DAVUS_BENCH_SYSTEM\n",
  );
  process.exit(2);
}
const send = (message: WorkerMessage) => process.send?.(message);
const onStart = (n: number) => send({ type: "started", id: n, at: wallNow() });
const target: BenchDatabase = { config: { engine: "postgres", url }, url, async drop() {} };

const worker = system === "davus" ? await startEngine() : await startGraphile();

process.on("message", (message: ParentMessage) => {
  if (message.type === "ping") {
    send({ type: "pong", id: message.id, at: wallNow() });
    return;
  }
  void worker.stop().finally(() => process.exit(0));
});
send({ type: "ready", wakeUp: worker.wakeUp });

async function startEngine() {
  const bench = await noopEngine(target, { concurrency: 1, timerMs: 0 });
  bench.onStart = onStart;
  let polling = false;
  const wakeUp: "notify" | "poll" = bench.database.listen ? "notify" : "poll";
  if (wakeUp === "notify") {
    bench.jobs.start();
  } else {
    polling = true;
    void (async () => {
      while (polling) {
        await bench.jobs.drain({ budgetMs: 1_000, concurrency: 1, trigger: "cli" });
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
  }
  return {
    wakeUp,
    async stop() {
      polling = false;
      await bench.close();
    },
  };
}

async function startGraphile() {
  const { startGraphileWorker } = await import("./peers/graphile-worker.js");
  const runner = await startGraphileWorker(target, onStart);
  return { wakeUp: "notify" as const, stop: runner.stop };
}
