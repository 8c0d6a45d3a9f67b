import { describe, expect, it } from "vitest";
import { z } from "zod";
import { AppError } from "../../src/errors.js";
import { defineTask, type TaskOptions } from "../../src/jobs/task.js";
import { engines, type TestEngine } from "../support/databases.js";
import { untilAborted, useJobsWorld } from "../support/jobs.js";

const notice = z.object({ invoice: z.string() });

/** The billing notice task, with its handler and any retry settings from `options`. */
function noticeTask(options: Omit<TaskOptions<z.infer<typeof notice>>, "name" | "payload">) {
  return defineTask({ name: "billing.send-notice", payload: notice, ...options });
}

/** The wait before attempt n + 1 when random() answers 0.5: three quarters of the capped step. */
function expectedDelay(baseMs: number, capMs: number, attemptsMade: number): number {
  return 0.75 * Math.min(capMs, baseMs * 2 ** (attemptsMade - 1));
}

describe.each(engines)("retries ($name)", (engine: TestEngine) => {
  const world = useJobsWorld(engine);

  it("retries a failed job after an exponential, capped backoff, and not before", async () => {
    const backoff = { baseMs: 1_000, capMs: 1_500 };
    let calls = 0;
    const task = noticeTask({
      backoff,
      handler: () => {
        calls++;
        if (calls <= 2) throw new Error(`smtp 421 try again later (call ${calls})`);
      },
    });
    const jobs = world.engine({ tasks: [task] });

    const { id } = await jobs.enqueue(task, { invoice: "F-1" });
    await jobs.idle();

    const firstDelay = expectedDelay(backoff.baseMs, backoff.capMs, 1);
    expect(firstDelay).toBe(750);
    expect(await world.job(id)).toMatchObject({
      status: "failed",
      attempts: 1,
      run_at: world.clock.now() + firstDelay,
      locked_by: null,
      last_error: "smtp 421 try again later (call 1)",
      finished_at: null,
    });

    world.clock.advance(firstDelay - 1);
    const early = await jobs.drain();
    expect(early.outcomes).toEqual([]);
    expect(early.remaining).toBe(0);
    expect(calls).toBe(1);

    world.clock.advance(1);
    const second = await jobs.drain();
    expect(second.outcomes.map((o) => [o.attempt, o.outcome])).toEqual([[2, "failed"]]);

    // 2 s doubled from the base is over the 1.5 s cap, so the cap applies.
    const secondDelay = expectedDelay(backoff.baseMs, backoff.capMs, 2);
    expect(secondDelay).toBe(1_125);
    expect(await world.job(id)).toMatchObject({
      status: "failed",
      attempts: 2,
      run_at: world.clock.now() + secondDelay,
    });

    world.clock.advance(secondDelay - 1);
    expect((await jobs.drain()).outcomes).toEqual([]);
    world.clock.advance(1);
    const third = await jobs.drain();

    expect(third.counts).toEqual({ succeeded: 1, failed: 0, dead: 0, running: 0, released: 0 });
    expect(calls).toBe(3);
    expect(await world.job(id)).toMatchObject({
      status: "succeeded",
      attempts: 3,
      last_error: null,
    });
    const runs = await world.runs(id);
    expect(runs.map((run) => [run.attempt, run.outcome, run.trigger])).toEqual([
      [1, "failed", "inline"],
      [2, "failed", "trigger"],
      [3, "succeeded", "trigger"],
    ]);
    expect(runs.map((run) => run.error)).toEqual([
      "smtp 421 try again later (call 1)",
      "smtp 421 try again later (call 2)",
      null,
    ]);
  });

  it("marks a job dead after its last attempt, with the last error kept", async () => {
    const task = noticeTask({
      maxAttempts: 2,
      handler: () => {
        throw new Error("connection refused by smtp.example.com");
      },
    });
    const jobs = world.engine({ tasks: [task] });

    const { id } = await jobs.enqueue(task, { invoice: "F-2" });
    await jobs.idle();
    world.clock.advance(expectedDelay(1_000, 3_600_000, 1));
    const drained = await jobs.drain();

    expect(drained.counts).toEqual({ succeeded: 0, failed: 0, dead: 1, running: 0, released: 0 });
    expect(drained.outcomes[0]).toMatchObject({
      jobId: id,
      attempt: 2,
      outcome: "dead",
      error: "connection refused by smtp.example.com",
    });
    expect(await world.job(id)).toMatchObject({
      status: "dead",
      attempts: 2,
      locked_by: null,
      last_error: "connection refused by smtp.example.com",
      finished_at: world.clock.now(),
    });
    expect((await world.runs(id)).map((run) => [run.attempt, run.outcome])).toEqual([
      [1, "failed"],
      [2, "dead"],
    ]);

    // A dead job is never due again on its own.
    world.clock.advance(86_400_000);
    expect((await jobs.drain()).outcomes).toEqual([]);
  });

  it("marks a job dead at once when it fails with a permanent AppError", async () => {
    const task = noticeTask({
      maxAttempts: 5,
      handler: () => {
        throw new AppError("recipient_rejected", "550 no such mailbox", { retryable: false });
      },
    });
    const jobs = world.engine({ tasks: [task] });

    const { id } = await jobs.enqueue(task, { invoice: "F-3" });
    await jobs.idle();

    expect(await world.job(id)).toMatchObject({
      status: "dead",
      attempts: 1,
      last_error: "550 no such mailbox",
    });
    expect((await world.runs(id)).map((run) => run.outcome)).toEqual(["dead"]);
  });

  it("puts a dead job back in the queue with jobs.retry(), and the next drain runs it", async () => {
    let broken = true;
    const task = noticeTask({
      handler: () => {
        if (broken) throw new AppError("template_missing", "no template", { retryable: false });
      },
    });
    const jobs = world.engine({ tasks: [task] });
    const { id } = await jobs.enqueue(task, { invoice: "F-4" });
    await jobs.idle();
    expect((await world.job(id)).status).toBe("dead");

    broken = false;
    world.clock.advance(5_000);
    const retried = await jobs.retry(id);

    expect(retried).toMatchObject({
      id,
      status: "queued",
      attempts: 0,
      run_at: world.clock.now(),
      finished_at: null,
    });
    const drained = await jobs.drain();
    expect(drained.outcomes.map((o) => [o.jobId, o.attempt, o.outcome])).toEqual([
      [id, 1, "succeeded"],
    ]);
    expect(await world.job(id)).toMatchObject({ status: "succeeded", attempts: 1 });
    expect((await world.runs(id)).map((run) => [run.attempt, run.outcome])).toEqual([
      [1, "dead"],
      [1, "succeeded"],
    ]);
  });

  it("refuses to retry a job that is not dead (job_not_dead) or does not exist (job_not_found)", async () => {
    const task = noticeTask({ handler: () => {} });
    const jobs = world.engine({ tasks: [task] });
    const { id } = await jobs.enqueue(task, { invoice: "F-5" });
    await jobs.idle();

    await expect(jobs.retry(id)).rejects.toMatchObject({
      code: "job_not_dead",
      status: 409,
      message: `Job ${id} is succeeded, not dead; only a dead job can be retried by hand.`,
    });
    await expect(jobs.retry(id + 1000)).rejects.toMatchObject({
      code: "job_not_found",
      status: 404,
      message: `There is no job ${id + 1000}.`,
    });
    expect(await world.job(id)).toMatchObject({ status: "succeeded", attempts: 1 });
  });
});

describe.each(engines)("timeouts ($name)", (engine: TestEngine) => {
  const world = useJobsWorld(engine);

  it("aborts the signal of an attempt that runs past timeoutMs, and fails the attempt", async () => {
    const reasons: unknown[] = [];
    const task = noticeTask({
      timeoutMs: 100,
      maxAttempts: 3,
      handler: async ({ signal }) => {
        const reason = await untilAborted(signal);
        reasons.push(reason);
        throw reason;
      },
    });
    const jobs = world.engine({ tasks: [task] });

    const { id } = await jobs.enqueue(task, { invoice: "F-6" });
    await jobs.idle();

    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatchObject({ code: "job_timeout", retryable: true });
    expect(await world.job(id)).toMatchObject({
      status: "failed",
      attempts: 1,
      last_error: "attempt took longer than 100 ms",
    });
    const runs = await world.runs(id);
    expect(runs.map((run) => [run.outcome, run.error])).toEqual([
      ["failed", "attempt took longer than 100 ms"],
    ]);
  });

  it("fails an attempt at its timeout even when the handler ignores its signal", async () => {
    const task = noticeTask({
      timeoutMs: 100,
      maxAttempts: 3,
      handler: () => new Promise((resolve) => setTimeout(resolve, 600)),
    });
    const jobs = world.engine({ tasks: [task] });

    const { id } = await jobs.enqueue(task, { invoice: "F-7" });
    await jobs.idle();

    expect(await world.job(id)).toMatchObject({
      status: "failed",
      last_error: "attempt took longer than 100 ms",
    });
  });
});
