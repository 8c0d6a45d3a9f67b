import { randomUUID } from "node:crypto";
import os from "node:os";
import { type Insertable, type Kysely, sql, type Transaction } from "kysely";
import type { Clock } from "../clock.js";
import type { Database, Listener } from "../db/database.js";
import type { Job, JobRunsTable, RunTrigger, Schema } from "../db/schema.js";
import { retryTransient } from "../db/transient-errors.js";
import { AppError, describeError, isRetryable } from "../errors.js";
import type { Logger } from "../logger.js";
import { AttemptAbort } from "./attempt-abort.js";
import { InlineRunner } from "./inline-tasks.js";
import {
  type ClaimedJob,
  type Completion,
  claimJobs,
  countDue,
  insertJob,
  insertJobs,
  insertRuns,
  type NewJobRow,
  pruneSucceeded,
  releaseJobs,
  renewLeases,
  retryDeadJob,
  writeCompletions,
} from "./job-store.js";
import { type AnyTask, retryDelay, type TaskDefinition } from "./task.js";

/*
 * A job's life, as stored in `jobs.status`:
 *
 *   queued ──claim──▶ running ──ok──▶ succeeded            (pruned after the retention)
 *      ▲                 │  │
 *      │                 │  └─error, attempts left──▶ failed ──run_at reached──▶ (claimable)
 *      │                 └────error, none left, or a permanent error──▶ dead
 *      └──release on shutdown, or retried by hand (dead only)
 *
 * A claim sets `locked_by` and `locked_until` (the lease). The holder renews the lease while
 * the handler runs. If the holder dies, its lease expires and the job is claimable again as
 * if it were queued: that is what makes a committed job run at least once. Every end of an
 * attempt is written only where `locked_by` still names the writer.
 */

export type RunTriggerName = RunTrigger;

export type Outcome = "succeeded" | "failed" | "dead" | "running" | "released";

export interface JobOutcome {
  jobId: number;
  task: string;
  attempt: number;
  outcome: Outcome;
  error?: string;
  durationMs: number;
}

export interface DrainCounts {
  succeeded: number;
  failed: number;
  dead: number;
  /** Still running when the budget ran out; they finish in the background. */
  running: number;
  /** Claimed but not started before the budget ran out; back in the queue. */
  released: number;
}

export interface DrainResult {
  outcomes: JobOutcome[];
  counts: DrainCounts;
  /** Jobs due now and not yet taken: a caller may drain again while this is above 0. */
  remaining: number;
  durationMs: number;
}

export interface DrainOptions {
  /** How long to keep claiming and waiting, in milliseconds (real time). */
  budgetMs?: number;
  concurrency?: number;
  trigger?: RunTrigger;
  /** Drain only these jobs (and wait for them if they already run in this process). */
  jobIds?: number[];
}

export interface EnqueueOptions {
  /** When the job becomes due; default now. */
  runAt?: Date | number;
  /**
   * Collapses duplicates: while a job with this key is queued, running, failed or
   * succeeded (and not yet pruned), enqueueing the same key returns that job instead of a
   * new one. A dead job frees its key. Put the time window in the key for work that
   * repeats, such as `low-stock:2026-12-04:ana@example.com`.
   */
  uniqueKey?: string;
  priority?: number;
  /**
   * Wake listening instances (PostgreSQL NOTIFY); default true. Off when the caller drains
   * the job itself right after, as a tick does with the slots it fires.
   */
  notify?: boolean;
  /**
   * The caller's transaction. The job then exists if and only if that transaction
   * commits. Inside `jobs.transaction()`, the job also runs in this process right after
   * the commit; in a transaction of the caller's own, the next drain runs it.
   */
  db?: Kysely<Schema>;
}

export interface EnqueueResult {
  id: number;
  /** False when a unique key collapsed this enqueue onto an existing job. */
  created: boolean;
  status: Job["status"];
}

export interface JobEngineOptions {
  database: Database;
  logger: Logger;
  clock: Clock;
  tasks: AnyTask[];
  /** The name this process claims jobs under; default host, pid and a random part. */
  worker?: string;
  leaseMs?: number;
  concurrency?: number;
  batchSize?: number;
  /** At most this many jobs wait in memory for an inline-first run; others go to the queue. */
  inlineFirstLimit?: number;
  inlineConcurrency?: number;
  inlineQueueLimit?: number;
  slowInlineMs?: number;
  /** How often the timer drains while the process is awake; 0 turns it off. */
  timerMs?: number;
  retentionMs?: number;
  random?: () => number;
  /** Listen for other instances' new jobs (PostgreSQL); default true once started. */
  listen?: boolean;
}

interface Held {
  job: Job;
  abort: AttemptAbort;
  started: boolean;
  released: boolean;
}

interface PendingCompletion {
  completion: Completion;
  done: (lost: boolean) => void;
}

const PRUNE_EVERY_MS = 10 * 60_000;
const WAKE_CHANNEL = "davus_jobs";
const ANALYZE_AFTER_ROWS = 5_000;
const PRUNE_BATCH = 500;
/** How much work, in handler time per slot, a claim takes at once; and its most jobs. */
const CLAIM_AHEAD_MS = 50;
const MAX_CLAIM = 500;
/** Longest a drain runs before it lets the event loop answer requests and fire timers. */
const YIELD_EVERY_MS = 10;

/**
 * The job engine: enqueue, claim, run, retry, and stop cleanly. There is no worker
 * process; whoever calls `drain()` (the timer, the trigger endpoint, the command line)
 * does the work, and a job enqueued by this process runs here at once after its commit.
 */
export class JobEngine {
  readonly worker: string;
  readonly database: Database;
  private readonly db: Kysely<Schema>;
  private readonly tasks = new Map<string, TaskDefinition<unknown>>();
  private readonly held = new Map<number, Held>();
  private readonly inFlight = new Map<number, Promise<JobOutcome>>();
  private readonly transactions = new WeakMap<Kysely<Schema>, Job[]>();
  private readonly pendingCompletions: PendingCompletion[] = [];
  private readonly timerHooks: (() => Promise<void>)[] = [];
  private readonly inline: InlineRunner;
  private readonly options: Required<
    Omit<JobEngineOptions, "worker" | "tasks" | "listen" | "database" | "logger" | "clock">
  >;
  private flushing: Promise<void> | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private timerBusy = false;
  private waking = false;
  private wakeAgain = false;
  private listening: Promise<Listener | undefined> | undefined;
  private inlineFirstWaiting = 0;
  private lastPruneAt = 0;
  private started = false;
  private stopping: Promise<void> | undefined;

  constructor(private readonly config: JobEngineOptions) {
    this.worker = config.worker ?? `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.database = config.database;
    this.db = config.database.db;
    this.options = {
      leaseMs: config.leaseMs ?? 60_000,
      concurrency: config.concurrency ?? 8,
      batchSize: config.batchSize ?? 50,
      inlineFirstLimit: config.inlineFirstLimit ?? 32,
      inlineConcurrency: config.inlineConcurrency ?? 4,
      inlineQueueLimit: config.inlineQueueLimit ?? 1_000,
      slowInlineMs: config.slowInlineMs ?? 2_000,
      timerMs: config.timerMs ?? 5_000,
      retentionMs: config.retentionMs ?? 14 * 86_400_000,
      random: config.random ?? Math.random,
    };
    for (const task of config.tasks) this.register(task);
    this.inline = new InlineRunner({
      db: this.db,
      logger: config.logger,
      concurrency: this.options.inlineConcurrency,
      queueLimit: this.options.inlineQueueLimit,
      slowMs: this.options.slowInlineMs,
    });
  }

  register(task: AnyTask): void {
    if (this.tasks.has(task.name)) throw new Error(`Task "${task.name}" is defined twice.`);
    this.tasks.set(task.name, task);
  }

  taskNames(): string[] {
    return [...this.tasks.keys()].sort();
  }

  getTask(name: string): TaskDefinition<unknown> | undefined {
    return this.tasks.get(name);
  }

  /** Start the timer. Safe to call twice. */
  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    if (this.config.listen !== false && this.config.database.listen) {
      // Other instances NOTIFY when they store a job this one could run: drain at once
      // instead of at the next beat. The timer stays the safety net.
      this.listening = this.config.database
        .listen(WAKE_CHANNEL, () => this.wake(), this.config.logger)
        .catch((error) => {
          this.config.logger.error({ err: describeError(error) }, "could not listen for new jobs");
          return undefined;
        });
    }
    if (this.options.timerMs > 0) {
      this.drainTimer = setInterval(() => void this.beat(), this.options.timerMs);
      this.drainTimer.unref();
    }
  }

  /** Drain soon, in the background; wake-ups that come meanwhile fold into one more drain. */
  wake(): void {
    if (!this.started || this.stopping) return;
    if (this.waking) {
      this.wakeAgain = true;
      return;
    }
    this.waking = true;
    this.drain({ trigger: "notify", budgetMs: 20_000 })
      .catch((error) =>
        this.config.logger.error({ err: describeError(error) }, "wake-up drain failed"),
      )
      .finally(() => {
        this.waking = false;
        if (this.wakeAgain) {
          this.wakeAgain = false;
          this.wake();
        }
      });
  }

  /** Run `hook` on every timer beat, before the drain (the scheduler fires due slots here). */
  onTimer(hook: () => Promise<void>): void {
    this.timerHooks.push(hook);
  }

  private async beat(): Promise<void> {
    if (this.timerBusy || this.stopping) return;
    this.timerBusy = true;
    try {
      for (const hook of this.timerHooks) await hook();
      await this.drain({ trigger: "timer", budgetMs: Math.max(20_000, this.options.timerMs) });
    } catch (error) {
      this.config.logger.error({ err: describeError(error) }, "timer drain failed");
    } finally {
      this.timerBusy = false;
    }
  }

  /**
   * Run `work` in a transaction; durable jobs it enqueues (passing `db: trx`) exist only if
   * it commits, and then start in this process at once.
   */
  async transaction<T>(work: (trx: Transaction<Schema>) => Promise<T>): Promise<T> {
    const enqueued: Job[] = [];
    let result: T;
    try {
      result = await this.db.transaction().execute(async (trx) => {
        this.transactions.set(trx, enqueued);
        try {
          return await work(trx);
        } finally {
          this.transactions.delete(trx);
        }
      });
    } catch (error) {
      // Rolled back: the jobs do not exist, so nothing waits to run them.
      this.inlineFirstWaiting -= enqueued.length;
      throw error;
    }
    this.afterCommit(enqueued);
    return result;
  }

  /** Store a job for `task`. The payload is checked against the task's schema first. */
  async enqueue<Payload>(
    task: TaskDefinition<Payload> | string,
    payload: Payload,
    options: EnqueueOptions = {},
  ): Promise<EnqueueResult> {
    const definition = this.resolveDurable(task);
    const now = this.config.clock.now();
    const row = this.newJobRow(definition, payload, options, now);
    const ownTransaction = options.db ? this.transactions.get(options.db) : undefined;

    // Inline-first: take the lease in the same insert, so the job can start the moment the
    // commit returns, without another round trip to claim it.
    const inlineFirst =
      this.stopping === undefined &&
      row.runAt <= now &&
      (options.db === undefined || ownTransaction !== undefined) &&
      this.inlineFirstWaiting < this.options.inlineFirstLimit;
    if (inlineFirst) {
      row.lease = { worker: this.worker, until: now + this.options.leaseMs };
      this.inlineFirstWaiting++;
    }

    let inserted: EnqueueResult;
    try {
      inserted = await insertJob(options.db ?? this.db, row, now);
    } catch (error) {
      if (inlineFirst) this.inlineFirstWaiting--;
      throw error;
    }
    if (!inlineFirst) {
      if (inserted.created && options.notify !== false) await this.announce(options.db ?? this.db);
      return inserted;
    }
    if (!inserted.created) {
      this.inlineFirstWaiting--;
      return inserted;
    }

    const job = this.jobFromRow(inserted.id, row, now);
    if (ownTransaction) ownTransaction.push(job);
    else this.afterCommit([job]);
    return inserted;
  }

  /** Store many jobs in one go (no inline-first run); for imports and benchmarks. */
  async enqueueMany<Payload>(
    task: TaskDefinition<Payload> | string,
    payloads: Payload[],
    options: Omit<EnqueueOptions, "uniqueKey"> = {},
  ): Promise<number[]> {
    const definition = this.resolveDurable(task);
    const now = this.config.clock.now();
    const rows = payloads.map((payload) => this.newJobRow(definition, payload, options, now));
    const ids = await insertJobs(options.db ?? this.db, rows, now);
    // A table that grew by thousands of rows at once has stale statistics until autovacuum
    // analyzes it (up to a minute later), and meanwhile the planner may sort the whole
    // queue on every claim. Analyzing now keeps claims on the index.
    if (ids.length >= ANALYZE_AFTER_ROWS && !options.db) {
      await sql`analyze jobs`.execute(this.db);
    }
    if (ids.length > 0) await this.announce(options.db ?? this.db);
    return ids;
  }

  /** Run an inline task after the current work; never stored, never thrown at the caller. */
  runInline<Payload>(task: TaskDefinition<Payload>, payload: Payload): boolean {
    if (task.durable) {
      throw new Error(`Task "${task.name}" is durable: enqueue it instead of running it inline.`);
    }
    return this.inline.submit(task as TaskDefinition<unknown>, payload);
  }

  /** Put a dead job back in the queue with its attempts reset. */
  async retry(jobId: number): Promise<Job> {
    let job: Job | undefined;
    try {
      job = await retryDeadJob(this.db, jobId, this.config.clock.now());
    } catch (error) {
      if (!/unique|duplicate key/i.test(describeError(error))) throw error;
      throw new AppError(
        "job_key_taken",
        `Job ${jobId} cannot be retried: another live job holds its unique key. Let that job finish instead.`,
        { status: 409, cause: error },
      );
    }
    if (!job) {
      const existing = await this.db
        .selectFrom("jobs")
        .select("status")
        .where("id", "=", jobId)
        .executeTakeFirst();
      throw new AppError(
        existing ? "job_not_dead" : "job_not_found",
        existing
          ? `Job ${jobId} is ${existing.status}, not dead; only a dead job can be retried by hand.`
          : `There is no job ${jobId}.`,
        { status: existing ? 409 : 404 },
      );
    }
    await this.announce(this.db);
    return job;
  }

  /**
   * Claim due jobs in batches and run them until none is due or the budget is spent.
   * Returns each job's outcome; never throws for a job's failure.
   */
  async drain(options: DrainOptions = {}): Promise<DrainResult> {
    const started = performance.now();
    const deadline = started + (options.budgetMs ?? 25_000);
    const concurrency = Math.max(1, options.concurrency ?? this.options.concurrency);
    const trigger = options.trigger ?? "trigger";
    // A job holds a slot while its handler runs; its outcome is written afterwards, in a
    // group with others, so a slow write never keeps the next job from starting.
    const running = new Set<number>();
    const finals = new Map<number, Promise<JobOutcome>>();
    const queue: ClaimedJob[] = [];
    // Timers may fire a little before performance.now() reaches the deadline, so the timer
    // itself marks the time as up.
    let timeUp = false;
    const timeLeft = () =>
      !timeUp && deadline - performance.now() > 0 && this.stopping === undefined;
    let wanted = options.jobIds ? [...new Set(options.jobIds)] : undefined;

    // The loop sleeps until something happens: a slot frees, a claim returns, time is up.
    let woken = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      woken = true;
      wake?.();
    };
    const nextEvent = () =>
      woken
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            wake = resolve;
          });
    const free = (jobId: number) => {
      if (running.delete(jobId)) notify();
    };
    const deadlineTimer = setTimeout(
      () => {
        timeUp = true;
        notify();
      },
      Math.max(0, deadline - performance.now()),
    );

    // Jobs asked for by id that already run here (inline-first) are awaited, not claimed.
    if (wanted) {
      for (const id of wanted) {
        const current = this.inFlight.get(id);
        if (!current) continue;
        running.add(id);
        finals.set(id, current);
        current.then(() => free(id));
      }
      wanted = wanted.filter((id) => !running.has(id));
    }

    let exhausted = false;
    let claiming: Promise<void> | undefined;
    let claimError: unknown;
    // Each claim takes about CLAIM_AHEAD_MS of work, judged by the handlers seen so far in
    // this drain: quick jobs come in large batches (one round trip for hundreds), slow ones
    // a few at a time, so that one instance does not sit on jobs another could run.
    let handled = 0;
    let handlerMs = 0;
    const batchFloor = Math.max(concurrency, this.options.batchSize);
    const batchSize = () => {
      if (handled === 0) return batchFloor;
      const perJobMs = Math.max(handlerMs / handled, 0.01);
      const ahead = Math.ceil((concurrency * CLAIM_AHEAD_MS) / perJobMs);
      return Math.min(MAX_CLAIM, Math.max(batchFloor, ahead));
    };
    let want = batchFloor;
    const claimMore = () => {
      want = batchSize();
      claiming = this.claim(want, wanted, trigger)
        .then((claimed) => {
          queue.push(...claimed);
          if (claimed.length < want || wanted) exhausted = true;
        })
        .catch((error) => {
          claimError = error;
          exhausted = true;
        })
        .finally(() => {
          claiming = undefined;
          notify();
        });
    };

    // On SQLite every statement returns at once, so a drain of no-op jobs never waits on I/O
    // and would hold the event loop until it ends: no request answered, no timer fired.
    // Every few milliseconds of work it steps aside for a turn of the loop.
    let yieldedAt = performance.now();

    try {
      for (;;) {
        if (performance.now() - yieldedAt > YIELD_EVERY_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          yieldedAt = performance.now();
        }
        woken = false;
        const open = timeLeft();
        while (open && queue.length > 0 && running.size < concurrency) {
          const job = queue.shift() as ClaimedJob;
          running.add(job.id);
          const startedAt = performance.now();
          const final = this.execute(job, trigger, false, () => {
            handled++;
            handlerMs += performance.now() - startedAt;
            free(job.id);
          });
          final.then(() => free(job.id));
          finals.set(job.id, final);
        }

        // Claim the next batch while this one runs, so that slots never wait on a claim.
        const canClaim = open && !exhausted && !claiming && (!wanted || wanted.length > 0);
        // The next claim leaves while half of this one is still queued.
        if (canClaim && queue.length < Math.max(concurrency, want / 2)) claimMore();

        if (running.size === 0 && !claiming && (queue.length === 0 || !open)) break;
        if (!open && !claiming) break;
        await nextEvent();
      }
      await claiming;
    } finally {
      clearTimeout(deadlineTimer);
    }

    // Outcomes: a job whose handler ended is final once its write is done; a job still
    // running past the budget goes on in the background; claimed jobs never started go back.
    const outcomes: JobOutcome[] = [];
    for (const [jobId, final] of finals) {
      if (!running.has(jobId)) outcomes.push(await final);
    }
    for (const jobId of running.keys()) {
      const held = this.held.get(jobId);
      outcomes.push({
        jobId,
        task: held?.job.task ?? "unknown",
        attempt: held?.job.attempts ?? 0,
        outcome: "running",
        durationMs: 0,
      });
    }
    if (queue.length > 0) {
      await this.release(
        queue.map((job) => ({ id: job.id, started: false })),
        trigger,
      );
      for (const job of queue) {
        outcomes.push({
          jobId: job.id,
          task: job.task,
          attempt: job.attempts - 1,
          outcome: "released",
          durationMs: 0,
        });
      }
    }

    if (claimError !== undefined && outcomes.length === 0) throw claimError;
    if (!options.jobIds) await this.pruneIfDue();
    const remaining = await this.withRetry(() => countDue(this.database, this.config.clock.now()));
    return {
      outcomes,
      counts: countOutcomes(outcomes),
      remaining,
      durationMs: Math.round(performance.now() - started),
    };
  }

  /** Wait until nothing enqueued by this process is still running inline-first. */
  async idle(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (
      this.inFlight.size > 0 ||
      this.inlineFirstWaiting > 0 ||
      this.pendingCompletions.length > 0 ||
      this.flushing
    ) {
      if (Date.now() > deadline) return;
      await Promise.race([
        ...(this.inFlight.size > 0 ? [Promise.allSettled([...this.inFlight.values()])] : []),
        new Promise((r) => setTimeout(r, 10)),
      ]);
      await this.flushing;
    }
    await this.inline.idle(Math.max(0, deadline - Date.now()));
  }

  /**
   * Stop: the timer first, then let running jobs finish for up to `graceMs`, then release
   * the leases of the rest so another drain runs them. Safe to call twice.
   */
  stop(graceMs = 25_000): Promise<void> {
    this.stopping ??= this.shutdown(graceMs);
    return this.stopping;
  }

  private async shutdown(graceMs: number): Promise<void> {
    clearInterval(this.drainTimer);
    const listener = await this.listening;
    await listener?.close();
    const deadline = performance.now() + graceMs;
    const log = this.config.logger;

    await Promise.all([
      this.inline.stop(graceMs),
      (async () => {
        while (this.inFlight.size > 0 && performance.now() < deadline) {
          await Promise.race([
            Promise.allSettled([...this.inFlight.values()]),
            new Promise((r) => setTimeout(r, Math.max(1, deadline - performance.now()))),
          ]);
        }
      })(),
    ]);

    // Release the leases on every path: a job left holding one would wait a whole lease.
    const rest = [...this.held.values()];
    for (const held of rest) {
      held.released = true;
      held.abort.abort(new AppError("shutdown", "the process is stopping", { retryable: true }));
    }
    try {
      await this.flush();
      const released = await this.release(
        rest.map((held) => ({ id: held.job.id, started: held.started })),
        "timer",
      );
      if (released > 0) log.info({ released }, "released the leases of unfinished jobs");
    } catch (error) {
      log.error(
        { err: describeError(error) },
        "could not release leases; they expire on their own",
      );
    }
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  private resolveDurable(task: AnyTask | string): TaskDefinition<unknown> {
    const name = typeof task === "string" ? task : task.name;
    const definition = this.tasks.get(name);
    if (!definition) {
      throw new AppError(
        "unknown_task",
        `There is no task named "${name}". Known tasks: ${this.taskNames().join(", ")}.`,
        {
          status: 404,
        },
      );
    }
    if (!definition.durable) {
      throw new AppError(
        "task_not_durable",
        `Task "${name}" is inline: run it with runInline() instead of enqueueing it.`,
      );
    }
    return definition;
  }

  private newJobRow(
    task: TaskDefinition<unknown>,
    payload: unknown,
    options: Omit<EnqueueOptions, "db">,
    now: number,
  ): NewJobRow {
    const parsed = task.payload.safeParse(payload);
    if (!parsed.success) {
      const problems = parsed.error.issues
        .map(
          (issue) =>
            `${issue.path.length > 0 ? issue.path.join(".") : "payload"}: ${issue.message}`,
        )
        .join("; ");
      throw new AppError(
        "invalid_payload",
        `Payload for task "${task.name}" is invalid: ${problems}.`,
        {
          status: 400,
        },
      );
    }
    const runAt = options.runAt === undefined ? now : new Date(options.runAt).getTime();
    if (Number.isNaN(runAt)) {
      throw new AppError(
        "invalid_run_at",
        `\`runAt\` for task "${task.name}" is not a valid time.`,
        { status: 400 },
      );
    }
    return {
      task: task.name,
      payload: JSON.stringify(parsed.data),
      priority: options.priority ?? task.priority,
      runAt,
      maxAttempts: task.maxAttempts,
      uniqueKey: options.uniqueKey ?? null,
      lease: null,
    };
  }

  private jobFromRow(id: number, row: NewJobRow, now: number): Job {
    return {
      id,
      task: row.task,
      payload: row.payload,
      status: "running",
      priority: row.priority,
      run_at: row.runAt,
      attempts: 1,
      max_attempts: row.maxAttempts,
      unique_key: row.uniqueKey,
      locked_by: this.worker,
      locked_until: row.lease?.until ?? now + this.options.leaseMs,
      started_at: now,
      last_error: null,
      created_at: now,
      updated_at: now,
      finished_at: null,
    };
  }

  private afterCommit(jobs: Job[]): void {
    if (jobs.length === 0) return;
    // Registered now, started on the next turn of the event loop: the caller (an HTTP
    // handler) answers first, and a drain asked for these ids finds them in flight.
    for (const job of jobs) {
      this.hold(job);
      const run = this.execute(job, "inline", true).finally(() => this.inlineFirstWaiting--);
      run.catch(() => {});
    }
  }

  private async claim(
    limit: number,
    ids: number[] | undefined,
    trigger: RunTrigger,
  ): Promise<ClaimedJob[]> {
    const now = this.config.clock.now();
    const claimed = await this.withRetry(() =>
      claimJobs(this.config.database, {
        worker: this.worker,
        now,
        leaseMs: this.options.leaseMs,
        limit,
        ...(ids ? { ids } : {}),
      }),
    );
    for (const job of claimed) this.hold(job);

    // A claimed job that was running belonged to a holder whose lease expired: record the
    // attempt it lost, so `job_runs` shows every attempt.
    const lost = claimed.filter((job) => job.previous_status === "running");
    if (lost.length > 0) {
      this.config.logger.warn(
        { jobs: lost.map((job) => job.id) },
        "reclaimed jobs whose lease expired",
      );
      await insertRuns(
        this.db,
        lost.map((job) => ({
          job_id: job.id,
          task: job.task,
          attempt: job.attempts - 1,
          started_at: job.previous_started_at ?? now,
          finished_at: now,
          duration_ms: null,
          outcome: "lost",
          error:
            "the lease expired before the attempt ended: its process stopped or lost the database",
          trigger,
          worker: job.previous_locked_by ?? "unknown",
        })),
      );
    }
    return claimed;
  }

  private hold(job: Job): void {
    this.held.set(job.id, {
      job,
      abort: new AttemptAbort(),
      started: false,
      released: false,
    });
    if (!this.renewTimer) {
      this.renewTimer = setInterval(
        () => void this.renew(),
        Math.max(50, Math.floor(this.options.leaseMs / 3)),
      );
      this.renewTimer.unref();
    }
  }

  private unhold(jobId: number): void {
    this.held.delete(jobId);
    if (this.held.size === 0 && this.renewTimer) {
      clearInterval(this.renewTimer);
      this.renewTimer = undefined;
    }
  }

  private async renew(): Promise<void> {
    if (this.held.size === 0) return;
    const now = this.config.clock.now();
    try {
      const stillHeld = await this.withRetry(() =>
        renewLeases(this.db, this.worker, [...this.held.keys()], now + this.options.leaseMs, now),
      );
      for (const [id, held] of this.held) {
        // A job held in memory but not in the table lost its lease (or is not committed yet).
        if (!stillHeld.has(id) && held.started && !held.released) {
          held.released = true;
          held.abort.abort(
            new AppError("lease_lost", "another process took this job after its lease expired", {
              retryable: true,
            }),
          );
          this.config.logger.warn(
            { jobId: id, task: held.job.task },
            "lease lost; the job may run twice",
          );
        }
      }
    } catch (error) {
      this.config.logger.error({ err: describeError(error) }, "could not renew leases");
    }
  }

  /** Run one claimed attempt and record its end; resolves with the outcome. */
  private execute(
    job: Job,
    trigger: RunTrigger,
    deferred = false,
    onHandled?: () => void,
  ): Promise<JobOutcome> {
    const start = deferred
      ? new Promise<void>((resolve) => setImmediate(resolve)).then(() =>
          this.attempt(job, trigger, onHandled),
        )
      : this.attempt(job, trigger, onHandled);
    const run = start.finally(() => {
      this.inFlight.delete(job.id);
      this.unhold(job.id);
    });
    this.inFlight.set(job.id, run);
    return run;
  }

  private async attempt(
    job: Job,
    trigger: RunTrigger,
    onHandled?: () => void,
  ): Promise<JobOutcome> {
    // An inline-first job starts a turn after its commit; stop() may have given it back in
    // between, as not started. Running it now would run it once more than its history shows.
    const held = this.held.get(job.id);
    if (!held || held.released) {
      return {
        jobId: job.id,
        task: job.task,
        attempt: job.attempts - 1,
        outcome: "released",
        durationMs: 0,
      };
    }
    held.started = true;
    const task = this.tasks.get(job.task);
    const log = lazyChild(this.config.logger, {
      jobId: job.id,
      task: job.task,
      attempt: job.attempts,
      trigger,
    });
    const startedAt = this.config.clock.now();
    const clockStart = performance.now();

    let error: unknown;
    if (!task) {
      error = new AppError("unknown_task", `no task named "${job.task}" in this process`, {
        retryable: true,
      });
    } else if (job.attempts > job.max_attempts) {
      error = new AppError("attempts_used_up", `all ${job.max_attempts} attempts were used`, {
        retryable: false,
      });
    } else {
      error = await this.runHandler(task, job, held.abort, log);
    }

    const durationMs = Math.round(performance.now() - clockStart);
    const now = this.config.clock.now();
    const message = error === undefined ? null : describeError(error);
    const permanent =
      error !== undefined && (!isRetryable(error) || job.attempts >= job.max_attempts);
    const kind = error === undefined ? "succeeded" : permanent ? "dead" : "failed";
    const run: Insertable<JobRunsTable> = {
      job_id: job.id,
      task: job.task,
      attempt: job.attempts,
      started_at: startedAt,
      finished_at: now,
      duration_ms: durationMs,
      outcome: kind,
      error: message,
      trigger,
      worker: this.worker,
    };

    if (held.released) {
      log.warn(
        { durationMs, outcome: kind },
        "job ended after its lease was given up; its outcome is not recorded",
      );
      return {
        jobId: job.id,
        task: job.task,
        attempt: job.attempts,
        outcome: "released",
        durationMs,
      };
    }

    const backoff = task?.backoff ?? { baseMs: 1_000, capMs: 3_600_000 };
    const completion: Completion =
      kind === "succeeded"
        ? { kind, job, run }
        : kind === "failed"
          ? {
              kind,
              job,
              run,
              error: message ?? "",
              retryAt: now + retryDelay(backoff, job.attempts, this.options.random),
            }
          : { kind, job, run, error: message ?? "" };
    onHandled?.();
    const lost = await this.complete(completion);

    const fields = { durationMs, outcome: kind, ...(message ? { err: message } : {}) };
    if (lost) log.warn(fields, "job ended but another process holds it now; outcome not recorded");
    else if (kind === "succeeded") log.info(fields, "job succeeded");
    else if (kind === "failed")
      log.warn(
        { ...fields, retryAt: new Date((completion as { retryAt: number }).retryAt).toISOString() },
        "job failed; retry scheduled",
      );
    else log.error(fields, "job dead; retry it by hand once the cause is fixed");

    return {
      jobId: job.id,
      task: job.task,
      attempt: job.attempts,
      outcome: lost ? "released" : kind,
      ...(message ? { error: message } : {}),
      durationMs,
    };
  }

  /** Returns the error the handler ended with, or undefined when it succeeded. */
  private async runHandler(
    task: TaskDefinition<unknown>,
    job: Job,
    abort: AttemptAbort,
    log: Logger,
  ): Promise<unknown> {
    let payload: unknown;
    try {
      payload = task.payload.parse(JSON.parse(job.payload));
    } catch (error) {
      return new AppError("invalid_payload", `stored payload does not fit task "${task.name}"`, {
        retryable: false,
        cause: error,
      });
    }

    const timeout = setTimeout(() => {
      abort.abort(
        new AppError("job_timeout", `attempt took longer than ${task.timeoutMs} ms`, {
          retryable: true,
        }),
      );
    }, task.timeoutMs);
    try {
      // A handler that ignores its signal still loses to the abort: the attempt counts as
      // failed, though its code may go on in the background until it returns.
      const db = this.db;
      await new Promise<void>((resolve, reject) => {
        abort.onAbort(reject);
        Promise.resolve()
          .then(() =>
            task.handler({
              payload,
              jobId: job.id,
              attempt: job.attempts,
              logger: log,
              get signal() {
                return abort.signal;
              },
              db,
            }),
          )
          .then(() => resolve(), reject);
      });
      return undefined;
    } catch (error) {
      return error ?? new Error("the handler threw nothing");
    } finally {
      clearTimeout(timeout);
    }
  }

  /** Queue a completion for the next group write; resolves with true if the lease was lost. */
  private complete(completion: Completion): Promise<boolean> {
    return new Promise((resolve) => {
      this.pendingCompletions.push({ completion, done: resolve });
      if (!this.flushing) this.flushing = this.flushLoop();
    });
  }

  private async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  // Group commit: completions that arrive while a write is in progress go together in the
  // next one, so a busy drain writes many outcomes per transaction without waiting on a timer.
  private async flushLoop(): Promise<void> {
    try {
      // Let the jobs that end in this turn of the event loop join the same write.
      await new Promise((resolve) => setImmediate(resolve));
      while (this.pendingCompletions.length > 0) {
        const batch = this.pendingCompletions.splice(0, 500);
        let lost: Set<number>;
        try {
          lost = await this.withRetry(() =>
            writeCompletions(
              this.config.database,
              this.worker,
              batch.map((p) => p.completion),
              this.config.clock.now(),
            ),
          );
        } catch (error) {
          this.config.logger.error(
            { err: describeError(error), jobs: batch.length },
            "could not record job outcomes; those jobs run again when their leases expire",
          );
          lost = new Set(batch.map((p) => p.completion.job.id));
        }
        for (const pending of batch) pending.done(lost.has(pending.completion.job.id));
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async release(
    jobs: { id: number; started: boolean }[],
    trigger: RunTrigger,
  ): Promise<number> {
    if (jobs.length === 0) return 0;
    const now = this.config.clock.now();
    const released = await this.withRetry(() => releaseJobs(this.db, this.worker, jobs, now));
    const started = new Set(jobs.filter((job) => job.started).map((job) => job.id));
    await insertRuns(
      this.db,
      released
        .filter((job) => started.has(job.id))
        .map((job) => ({
          job_id: job.id,
          task: job.task,
          attempt: job.attempts,
          started_at: job.started_at ?? now,
          finished_at: now,
          duration_ms: job.started_at ? now - job.started_at : null,
          outcome: "released" as const,
          error: "the process stopped before the attempt ended",
          trigger,
          worker: this.worker,
        })),
    );
    for (const job of jobs) this.unhold(job.id);
    return released.length;
  }

  /**
   * Tell listening instances that a job is waiting. On PostgreSQL, NOTIFY inside a
   * transaction is delivered at its commit, and not at all if it rolls back.
   */
  private async announce(db: Kysely<Schema>): Promise<void> {
    if (this.config.database.engine !== "postgres") return;
    await sql`select pg_notify(${WAKE_CHANNEL}, '')`.execute(db);
  }

  /** Try a statement again while the database fails with a transient error. */
  private withRetry<T>(work: () => Promise<T>): Promise<T> {
    return retryTransient(work, {
      onRetry: (error, attempt) =>
        this.config.logger.warn(
          { err: describeError(error), attempt },
          "database error; trying again",
        ),
    });
  }

  private async pruneIfDue(): Promise<void> {
    const now = this.config.clock.now();
    if (now - this.lastPruneAt < PRUNE_EVERY_MS) return;
    this.lastPruneAt = now;
    try {
      const cutoff = now - this.options.retentionMs;
      let total = 0;
      for (let batch = 0; batch < 20; batch++) {
        const deleted = await pruneSucceeded(this.db, cutoff, PRUNE_BATCH);
        total += deleted;
        if (deleted < PRUNE_BATCH) break;
      }
      if (total > 0)
        this.config.logger.info({ deleted: total }, "pruned succeeded jobs past the retention");
    } catch (error) {
      this.config.logger.error(
        { err: describeError(error) },
        "pruning failed; it will be tried again",
      );
    }
  }
}

/**
 * A logger with the job's fields that makes no pino child unless a handler asks for more
 * than the four levels: a child with redaction costs more than a no-op job.
 */
function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  const get = () => {
    child ??= parent.child(bindings);
    return child;
  };
  return new Proxy({} as Logger, {
    get(_target, property) {
      if (
        property === "info" ||
        property === "warn" ||
        property === "error" ||
        property === "debug"
      ) {
        return (fields: object, message?: string) => {
          if (parent.isLevelEnabled(property))
            parent[property]({ ...bindings, ...fields }, message);
        };
      }
      const value = Reflect.get(get(), property);
      return typeof value === "function" ? value.bind(get()) : value;
    },
  });
}

function countOutcomes(outcomes: JobOutcome[]): DrainCounts {
  const counts: DrainCounts = { succeeded: 0, failed: 0, dead: 0, running: 0, released: 0 };
  for (const { outcome } of outcomes) counts[outcome]++;
  return counts;
}
