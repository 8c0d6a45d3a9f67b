import { describe, expect, it } from "vitest";
import { z } from "zod";
import { AppError } from "../../src/errors.js";
import { defineTask } from "../../src/jobs/task.js";
import { engines, type TestEngine } from "../support/databases.js";
import { insertOrder, type JobsWorld, useJobsWorld } from "../support/jobs.js";

const confirmation = z.object({ orderRef: z.string().min(1), email: z.email() });
type Confirmation = z.infer<typeof confirmation>;

/** A durable task that records each payload it is run with. */
function confirmationTask(handled: Confirmation[]) {
  return defineTask({
    name: "orders.send-confirmation",
    payload: confirmation,
    handler: ({ payload }) => {
      handled.push(payload);
    },
  });
}

/** The confirmation task, with what it handled, and an engine of `world` that runs it. */
function confirmationJobs(world: JobsWorld) {
  const handled: Confirmation[] = [];
  const task = confirmationTask(handled);
  return { handled, task, jobs: world.engine({ tasks: [task] }) };
}

/**
 * The confirmation task whose first attempt is refused for good (a 550 answer); later attempts
 * keep the order reference in `handled`.
 */
function refusedOnceTask(handled: string[] = []) {
  let refuse = true;
  return defineTask({
    name: "orders.send-confirmation",
    payload: confirmation,
    handler: ({ payload }) => {
      if (refuse) {
        refuse = false;
        throw new AppError("recipient_rejected", "550 mailbox unavailable", { retryable: false });
      }
      handled.push(payload.orderRef);
    },
  });
}

describe.each(engines)("enqueueing durable jobs ($name)", (engine: TestEngine) => {
  const world = useJobsWorld(engine);

  it("runs a job enqueued outside a transaction in this process at once, and records one inline attempt", async () => {
    const { handled, task, jobs } = confirmationJobs(world);
    const payload = { orderRef: "A-1", email: "ana@example.com" };

    const enqueued = await jobs.enqueue(task, payload);

    // The lease is taken in the insert itself, so no other process can claim it meanwhile.
    expect(enqueued).toEqual({ id: enqueued.id, created: true, status: "running" });
    expect(await world.job(enqueued.id)).toMatchObject({
      status: "running",
      attempts: 1,
      locked_by: jobs.worker,
    });

    await jobs.idle();

    expect(handled).toEqual([payload]);
    expect(await world.job(enqueued.id)).toMatchObject({
      status: "succeeded",
      attempts: 1,
      locked_by: null,
      locked_until: null,
      last_error: null,
      finished_at: world.clock.now(),
    });
    const runs = await world.runs(enqueued.id);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({
      attempt: 1,
      task: "orders.send-confirmation",
      trigger: "inline",
      outcome: "succeeded",
      error: null,
      worker: jobs.worker,
      started_at: world.clock.now(),
      finished_at: world.clock.now(),
    });
    expect(runs[0]?.duration_ms).toEqual(expect.any(Number));
    expect(runs[0]?.duration_ms).toBeGreaterThanOrEqual(0);
  });

  it("stores a job enqueued in jobs.transaction() with the business row, and runs it only after the commit", async () => {
    const { handled, task, jobs } = confirmationJobs(world);
    let handledBeforeCommit: number | undefined;

    const id = await jobs.transaction(async (trx) => {
      await insertOrder(trx, "A-2");
      const enqueued = await jobs.enqueue(
        task,
        { orderRef: "A-2", email: "ana@example.com" },
        { db: trx },
      );
      // Give the event loop a full turn: an uncommitted job must not start.
      await new Promise((resolve) => setImmediate(resolve));
      handledBeforeCommit = handled.length;
      return enqueued.id;
    });
    await jobs.idle();

    expect(handledBeforeCommit).toBe(0);
    expect(handled).toEqual([{ orderRef: "A-2", email: "ana@example.com" }]);
    expect(await world.countRows("orders")).toBe(1);
    expect(await world.job(id)).toMatchObject({ status: "succeeded", attempts: 1 });
    expect((await world.runs(id)).map((run) => [run.trigger, run.outcome])).toEqual([
      ["inline", "succeeded"],
    ]);
  });

  it("leaves neither the business row nor the job when jobs.transaction() throws", async () => {
    const { handled, task, jobs } = confirmationJobs(world);

    const failing = jobs.transaction(async (trx) => {
      await insertOrder(trx, "A-3");
      await jobs.enqueue(task, { orderRef: "A-3", email: "ana@example.com" }, { db: trx });
      throw new Error("stock reservation failed");
    });

    await expect(failing).rejects.toThrow("stock reservation failed");
    await jobs.idle();
    expect(await world.countRows("orders")).toBe(0);
    expect(await world.countRows("jobs")).toBe(0);
    expect(await world.countRows("job_runs")).toBe(0);
    expect(handled).toEqual([]);
  });

  it("stores a job enqueued in the caller's own transaction as queued, for the next drain to run", async () => {
    const { handled, task, jobs } = confirmationJobs(world);

    const enqueued = await world.database.db.transaction().execute(async (trx) => {
      await insertOrder(trx, "A-4");
      return jobs.enqueue(task, { orderRef: "A-4", email: "ana@example.com" }, { db: trx });
    });
    await jobs.idle();

    expect(enqueued).toEqual({ id: enqueued.id, created: true, status: "queued" });
    expect(handled).toEqual([]);
    expect(await world.job(enqueued.id)).toMatchObject({
      status: "queued",
      attempts: 0,
      locked_by: null,
    });

    const drained = await jobs.drain();

    expect(drained.outcomes).toEqual([
      {
        jobId: enqueued.id,
        task: "orders.send-confirmation",
        attempt: 1,
        outcome: "succeeded",
        durationMs: expect.any(Number),
      },
    ]);
    expect(handled).toEqual([{ orderRef: "A-4", email: "ana@example.com" }]);
    expect((await world.runs(enqueued.id)).map((run) => [run.trigger, run.outcome])).toEqual([
      ["trigger", "succeeded"],
    ]);
  });

  it("refuses an invalid payload at enqueue with invalid_payload naming the field, and stores nothing", async () => {
    const { handled, task, jobs } = confirmationJobs(world);

    const refused = await jobs
      .enqueue(task, { orderRef: "A-5", email: "not-an-address" })
      .catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: "invalid_payload", status: 400 });
    expect((refused as AppError).message).toContain('task "orders.send-confirmation"');
    expect((refused as AppError).message).toMatch(/email: /);
    await expect(
      jobs.enqueueMany(task, [
        { orderRef: "A-6", email: "ana@example.com" },
        { orderRef: "", email: "ana@example.com" },
      ]),
    ).rejects.toMatchObject({
      code: "invalid_payload",
      message: expect.stringMatching(/orderRef: /),
    });
    await jobs.idle();
    expect(await world.countRows("jobs")).toBe(0);
    expect(handled).toEqual([]);
  });

  it("refuses to enqueue a task it does not know, or an inline task", async () => {
    const audit = defineTask({
      name: "audit.record",
      payload: z.object({ action: z.string() }),
      durable: false,
      handler: () => {},
    });
    const jobs = world.engine({ tasks: [confirmationTask([]), audit] });

    await expect(jobs.enqueue("orders.cancel", {})).rejects.toMatchObject({
      code: "unknown_task",
      message:
        'There is no task named "orders.cancel". Known tasks: audit.record, orders.send-confirmation.',
    });
    await expect(jobs.enqueue(audit, { action: "login" })).rejects.toMatchObject({
      code: "task_not_durable",
    });
    expect(await world.countRows("jobs")).toBe(0);
  });
});

describe.each(engines)("unique keys ($name)", (engine: TestEngine) => {
  const world = useJobsWorld(engine);

  it("collapses a duplicate onto the first job while it runs and after it succeeded", async () => {
    const { handled, task, jobs } = confirmationJobs(world);
    const payload = { orderRef: "B-1", email: "ana@example.com" };

    const first = await jobs.enqueue(task, payload, { uniqueKey: "confirm:B-1" });
    const whileRunning = await jobs.enqueue(task, payload, { uniqueKey: "confirm:B-1" });
    await jobs.idle();
    const afterSuccess = await jobs.enqueue(task, payload, { uniqueKey: "confirm:B-1" });
    await jobs.idle();

    expect(first).toMatchObject({ created: true });
    expect(whileRunning).toEqual({ id: first.id, created: false, status: "running" });
    expect(afterSuccess).toEqual({ id: first.id, created: false, status: "succeeded" });
    expect(await world.countRows("jobs")).toBe(1);
    expect(handled).toEqual([payload]);
  });

  it("collapses a duplicate enqueued in a transaction onto a queued job", async () => {
    const { handled, task, jobs } = confirmationJobs(world);
    const payload = { orderRef: "B-2", email: "ana@example.com" };

    const first = await jobs.enqueue(task, payload, {
      uniqueKey: "confirm:B-2",
      runAt: world.clock.now() + 60_000,
    });
    const second = await jobs.transaction((trx) =>
      jobs.enqueue(task, payload, { uniqueKey: "confirm:B-2", db: trx }),
    );
    await jobs.idle();

    expect(first).toEqual({ id: first.id, created: true, status: "queued" });
    expect(second).toEqual({ id: first.id, created: false, status: "queued" });
    expect(await world.countRows("jobs")).toBe(1);
    expect(handled).toEqual([]);
  });

  it("frees the key of a dead job, so the same key enqueues a new job", async () => {
    const handled: string[] = [];
    const task = refusedOnceTask(handled);
    const jobs = world.engine({ tasks: [task] });
    const payload = { orderRef: "B-3", email: "ana@example.com" };

    const first = await jobs.enqueue(task, payload, { uniqueKey: "confirm:B-3" });
    await jobs.idle();
    const second = await jobs.enqueue(task, payload, { uniqueKey: "confirm:B-3" });
    await jobs.idle();

    expect((await world.job(first.id)).status).toBe("dead");
    expect(second.created).toBe(true);
    expect(second.id).not.toBe(first.id);
    expect((await world.job(second.id)).status).toBe("succeeded");
    expect(handled).toEqual(["B-3"]);
  });

  it("refuses to retry a dead job by hand with job_key_taken while a newer job holds its key", async () => {
    const task = refusedOnceTask();
    const jobs = world.engine({ tasks: [task] });
    const payload = { orderRef: "B-4", email: "ana@example.com" };
    const dead = await jobs.enqueue(task, payload, { uniqueKey: "confirm:B-4" });
    await jobs.idle();
    await jobs.enqueue(task, payload, { uniqueKey: "confirm:B-4" });
    await jobs.idle();

    await expect(jobs.retry(dead.id)).rejects.toMatchObject({
      code: "job_key_taken",
      status: 409,
    });
    expect((await world.job(dead.id)).status).toBe("dead");
  });
});
