/**
 * Enqueue to handler start across processes: this process (A) enqueues each job alone and a
 * second process (B, bench/cross-process-worker.ts) that did not enqueue it runs it, at
 * concurrency 1. The next job is enqueued once B has started the previous one.
 *
 * Both processes read the wall clock as time origin plus monotonic time (`wallNow`), which
 * has sub-millisecond resolution; the offset between their two clocks is estimated over IPC
 * from the quickest of 30 round trips and removed.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { WorkerMessage, WorkerSystem } from "./cross-process-worker.js";
import { type BenchDatabase, type Deferred, deferred, percentile, wallNow } from "./harness.js";

export interface CrossProcessLatency {
  p50: number;
  p99: number;
  /** How process B learnt of a new job: "notify" (LISTEN/NOTIFY) or "poll" (a drain loop). */
  wakeUp: string;
  /** B's wall clock minus A's, as estimated and removed. */
  clockOffsetMs: number;
  /** The quickest round trip; the offset is known to within half of it. */
  roundTripMs: number;
}

/** Start B for `system` on `target`, then time `count` jobs enqueued by `enqueue(n)`. */
export async function measureCrossProcess(
  target: BenchDatabase,
  count: number,
  system: WorkerSystem,
  enqueue: (n: number) => Promise<void>,
): Promise<CrossProcessLatency> {
  const child = fork(fileURLToPath(new URL("./cross-process-worker.ts", import.meta.url)), [], {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, DAVUS_BENCH_DATABASE_URL: target.url, DAVUS_BENCH_SYSTEM: system },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const worker = new WorkerLink(child);
  try {
    const { wakeUp } = await worker.ready.promise;

    let best = { roundTripMs: Number.POSITIVE_INFINITY, clockOffsetMs: 0 };
    for (let ping = 0; ping < 30; ping++) {
      const sentAt = wallNow();
      const answeredAt = await worker.ping(ping);
      const back = wallNow();
      if (back - sentAt < best.roundTripMs) {
        best = { roundTripMs: back - sentAt, clockOffsetMs: answeredAt - (sentAt + back) / 2 };
      }
    }

    const samples: number[] = [];
    // A few jobs first, unmeasured, so that B's connections and statements exist.
    for (let n = -5; n < count; n++) {
      const started = worker.expect(n);
      await enqueue(n);
      const committedAt = wallNow();
      const startedAt = (await started) - best.clockOffsetMs;
      if (n >= 0) samples.push(startedAt - committedAt);
    }
    return { p50: percentile(samples, 50), p99: percentile(samples, 99), wakeUp, ...best };
  } finally {
    await worker.stop();
  }
}

/** The IPC side of process B: waits on its answers by job number or ping id. */
class WorkerLink {
  readonly ready = deferred<{ wakeUp: string }>();
  private readonly waiting = new Map<string, Deferred<number>>();
  private readonly exited = deferred();

  constructor(private readonly child: ChildProcess) {
    child.on("message", (message: WorkerMessage) => {
      if (message.type === "ready") this.ready.resolve({ wakeUp: message.wakeUp });
      else this.settle(`${message.type}:${message.id}`, message.at);
    });
    child.once("exit", (code) => {
      const error = new Error(`the cross-process worker exited with code ${code}`);
      this.ready.reject(error);
      for (const waiter of this.waiting.values()) waiter.reject(error);
      this.exited.resolve();
    });
  }

  ping(id: number): Promise<number> {
    const answer = this.wait(`pong:${id}`);
    this.child.send({ type: "ping", id });
    return answer;
  }

  /** Resolves with B's wall-clock time at the start of job number `n`. */
  expect(n: number): Promise<number> {
    return this.wait(`started:${n}`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.connected) this.child.send({ type: "stop" });
    const killer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await this.exited.promise;
    clearTimeout(killer);
  }

  private wait(key: string): Promise<number> {
    const waiter = deferred<number>();
    this.waiting.set(key, waiter);
    return waiter.promise;
  }

  private settle(key: string, at: number): void {
    this.waiting.get(key)?.resolve(at);
    this.waiting.delete(key);
  }
}
