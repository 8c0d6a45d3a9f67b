import type { Kysely } from "kysely";
import type { Schema } from "../db/schema.js";
import { describeError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { TaskDefinition } from "./task.js";

export interface InlineRunnerOptions {
  db: Kysely<Schema>;
  logger: Logger;
  /** How many inline tasks run at once; the rest wait their turn. */
  concurrency: number;
  /** How many may wait; past that a new one is dropped with an error line. */
  queueLimit: number;
  /** A task running longer than this logs a warning to make it durable. */
  slowMs: number;
}

interface Pending {
  task: TaskDefinition<unknown>;
  payload: unknown;
}

/**
 * Best-effort work after a response: never stored, never retried, never thrown at the
 * caller. A bounded number run at once and a bounded number wait, so that a burst of
 * requests cannot turn into a burst of background work that starves the requests.
 */
export class InlineRunner {
  private readonly waiting: Pending[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly controller = new AbortController();

  constructor(private readonly options: InlineRunnerOptions) {}

  /** Run a task soon, after the current request's work; returns at once. */
  submit(task: TaskDefinition<unknown>, payload: unknown): boolean {
    if (this.controller.signal.aborted) {
      this.options.logger.warn({ task: task.name }, "inline task dropped: the process is stopping");
      return false;
    }
    if (this.waiting.length >= this.options.queueLimit) {
      this.options.logger.error(
        { task: task.name, waiting: this.waiting.length },
        "inline task dropped: too many waiting; make it durable if it must not be lost",
      );
      return false;
    }
    this.waiting.push({ task, payload });
    setImmediate(() => this.pump());
    return true;
  }

  /** Resolves when nothing is running or waiting, or after `timeoutMs`. */
  async idle(timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.running.size > 0 || this.waiting.length > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      // A timer, not only the running tasks: with none running yet, waiting on them alone
      // would spin on microtasks and never let the queued ones start.
      await Promise.race([
        ...(this.running.size > 0 ? [Promise.allSettled([...this.running])] : []),
        new Promise((resolve) => setTimeout(resolve, Math.min(left, 20))),
      ]);
    }
    return true;
  }

  /** Stop taking work; abort what still runs after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    const finished = await this.idle(graceMs);
    this.controller.abort(new Error("the process is stopping"));
    if (!finished) {
      this.options.logger.warn(
        { running: this.running.size },
        "inline tasks cut short by shutdown",
      );
    }
    this.waiting.length = 0;
  }

  private pump(): void {
    while (this.running.size < this.options.concurrency && this.waiting.length > 0) {
      const next = this.waiting.shift() as Pending;
      const run = this.run(next).finally(() => {
        this.running.delete(run);
        this.pump();
      });
      this.running.add(run);
    }
  }

  private async run({ task, payload }: Pending): Promise<void> {
    const { logger, db, slowMs } = this.options;
    const started = performance.now();
    const log = logger.child({ task: task.name });
    const slow = setTimeout(() => {
      log.warn(
        { elapsedMs: Math.round(performance.now() - started) },
        "inline task is slow; make it durable so it runs outside the request path",
      );
    }, slowMs);
    slow.unref();

    try {
      await task.handler({
        payload,
        jobId: null,
        attempt: 1,
        logger: log,
        signal: this.controller.signal,
        db,
      });
      log.debug({ durationMs: Math.round(performance.now() - started) }, "inline task done");
    } catch (error) {
      log.error(
        { durationMs: Math.round(performance.now() - started), err: describeError(error) },
        "inline task failed",
      );
    } finally {
      clearTimeout(slow);
    }
  }
}
