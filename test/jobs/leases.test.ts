import { describe, expect, it } from "vitest";
import { z } from "zod";
import { FakeClock, systemClock } from "../../src/clock.js";
import { defineTask } from "../../src/jobs/task.js";
import { engines, type TestEngine } from "../support/databases.js";
import { sleep, untilAborted, useJobsWorld, waitFor } from "../support/jobs.js";

const delivery = z.object({ parcel: z.string() });

describe.each(engines)("leases ($name)", (engine: TestEngine) => {
  const world = useJobsWorld(engine);

  /** A job as a process that died mid-attempt leaves it: running, under a lease of its own. */
  async function insertAbandonedJob(options: {
    lockedUntil: number;
    attempts?: number;
    maxAttempts?: number;
  }): Promise<number> {
    const now = world.clock.now();
    const row = await world.database.db
      .insertInto("jobs")
      .values({
        task: "shipping.notify-carrier",
        payload: JSON.stringify({ parcel: "P-1" }),
        status: "running",
        priority: 0,
        run_at: now - 120_000,
        attempts: options.attempts ?? 1,
        max_attempts: options.maxAttempts ?? 5,
        locked_by: "dead-worker",
        locked_until: options.lockedUntil,
        started_at: now - 90_000,
        created_at: now - 120_000,
        updated_at: now - 90_000,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    return row.id;
  }

  function recordingTask(handled: string[]) {
    return defineTask({
      name: "shipping.notify-carrier",
      payload: delivery,
      handler: ({ payload }) => {
        handled.push(payload.parcel);
      },
    });
  }

  it("reclaims a job whose holder died once its lease expired, and records the lost attempt", async () => {
    const id = await insertAbandonedJob({ lockedUntil: world.clock.now() - 1 });
    const handled: string[] = [];
    const jobs = world.engine({ tasks: [recordingTask(handled)] });

    const drained = await jobs.drain();

    expect(drained.outcomes.map((o) => [o.jobId, o.attempt, o.outcome])).toEqual([
      [id, 2, "succeeded"],
    ]);
    expect(handled).toEqual(["P-1"]);
    expect(await world.job(id)).toMatchObject({ status: "succeeded", attempts: 2 });
    const runs = await world.runs(id);
    expect(runs.map((run) => [run.attempt, run.outcome])).toEqual([
      [1, "lost"],
      [2, "succeeded"],
    ]);
    expect(runs[1]?.worker).toBe(jobs.worker);
    expect(runs[0]).toMatchObject({
      started_at: world.clock.now() - 90_000,
      finished_at: world.clock.now(),
      duration_ms: null,
    });
    expect(runs[0]?.error).toContain("the lease expired");
    expect(world.logs.lines()).toContainEqual(
      expect.objectContaining({ level: 40, msg: "reclaimed jobs whose lease expired", jobs: [id] }),
    );
  });

  it("does not take a running job whose lease has not expired", async () => {
    const lockedUntil = world.clock.now() + 10_000;
    const id = await insertAbandonedJob({ lockedUntil });
    const handled: string[] = [];
    const jobs = world.engine({ tasks: [recordingTask(handled)] });

    world.clock.set(lockedUntil);
    const drained = await jobs.drain();

    expect(drained.outcomes).toEqual([]);
    expect(drained.remaining).toBe(0);
    expect(handled).toEqual([]);
    expect(await world.job(id)).toMatchObject({
      status: "running",
      attempts: 1,
      locked_by: "dead-worker",
      locked_until: lockedUntil,
    });

    world.clock.advance(1);
    expect((await jobs.drain()).counts.succeeded).toBe(1);
    expect(handled).toEqual(["P-1"]);
  });

  it("marks a reclaimed job dead without running it when its lost attempt was the last", async () => {
    const id = await insertAbandonedJob({
      lockedUntil: world.clock.now() - 1,
      attempts: 2,
      maxAttempts: 2,
    });
    const handled: string[] = [];
    const jobs = world.engine({ tasks: [recordingTask(handled)] });

    const drained = await jobs.drain();

    expect(drained.counts.dead).toBe(1);
    expect(handled).toEqual([]);
    expect(await world.job(id)).toMatchObject({
      status: "dead",
      last_error: "all 2 attempts were used",
    });
    expect((await world.runs(id)).map((run) => [run.attempt, run.outcome])).toEqual([
      [2, "lost"],
      [3, "dead"],
    ]);
  });

  it("aborts a holder that lost its lease to another engine, and keeps the new holder's outcome", async () => {
    // Two processes whose clocks disagree: for B, A's lease has run out; A keeps renewing
    // by its own clock, which no longer reaches B's now.
    const clockA = new FakeClock(world.clock.now());
    const clockB = new FakeClock(world.clock.now() + 301);
    const abortReasons: unknown[] = [];
    const started = { a: 0, b: 0 };
    const slowA = defineTask({
      name: "shipping.notify-carrier",
      payload: delivery,
      handler: async ({ signal }) => {
        started.a++;
        const reason = await untilAborted(signal);
        abortReasons.push(reason);
        throw reason;
      },
    });
    const quickB = defineTask({
      name: "shipping.notify-carrier",
      payload: delivery,
      handler: () => {
        started.b++;
      },
    });
    const a = world.engine({ tasks: [slowA], clock: clockA, leaseMs: 300 });
    const b = world.engine({ tasks: [quickB], clock: clockB, leaseMs: 300 });

    const { id } = await a.enqueue(slowA, { parcel: "P-2" });
    await waitFor("engine A to start the job", () => started.a === 1);
    const drained = await b.drain();
    await waitFor("engine A to notice the lost lease", () => abortReasons.length === 1);
    await a.idle();

    expect(drained.outcomes.map((o) => [o.jobId, o.attempt, o.outcome])).toEqual([
      [id, 2, "succeeded"],
    ]);
    expect(started).toEqual({ a: 1, b: 1 });
    expect(abortReasons[0]).toMatchObject({ code: "lease_lost" });
    expect(await world.job(id)).toMatchObject({ status: "succeeded", attempts: 2 });
    const runs = await world.runs(id);
    expect(runs.map((run) => [run.attempt, run.outcome])).toEqual([
      [1, "lost"],
      [2, "succeeded"],
    ]);
    expect(runs[1]?.worker).toBe(b.worker);
    expect(world.logs.lines()).toContainEqual(
      expect.objectContaining({ msg: "lease lost; the job may run twice", jobId: id }),
    );
  });

  it("keeps a long job by renewing its lease, so another engine never takes it", async () => {
    const runs: string[] = [];
    const task = defineTask({
      name: "shipping.notify-carrier",
      payload: delivery,
      handler: async ({ payload }) => {
        runs.push(payload.parcel);
        await sleep(1_200);
      },
    });
    // Real time: the lease (300 ms) is far shorter than the job (1.2 s).
    const a = world.engine({ tasks: [task], clock: systemClock, leaseMs: 300 });
    const b = world.engine({ tasks: [task], clock: systemClock, leaseMs: 300 });

    const { id } = await a.enqueue(task, { parcel: "P-3" });
    const finished = a.idle();
    let done = false;
    void finished.then(() => {
      done = true;
    });
    const taken: number[] = [];
    let drains = 0;
    while (!done) {
      const drained = await b.drain({ budgetMs: 1_000 });
      taken.push(...drained.outcomes.map((o) => o.jobId));
      drains++;
      await sleep(25);
    }

    expect(drains).toBeGreaterThan(5);
    expect(taken).toEqual([]);
    expect(runs).toEqual(["P-3"]);
    expect(await world.job(id)).toMatchObject({
      status: "succeeded",
      attempts: 1,
      locked_by: null,
    });
    expect((await world.runs(id)).map((run) => [run.outcome, run.worker])).toEqual([
      ["succeeded", a.worker],
    ]);
  });
});
