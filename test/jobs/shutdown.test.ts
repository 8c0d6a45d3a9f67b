import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask, type TaskOptions } from "../../src/jobs/task.js";
import { engines, type TestEngine } from "../support/databases.js";
import { deferred, sleep, untilAborted, useJobsWorld, waitFor } from "../support/jobs.js";

const report = z.object({ month: z.string() });

/** The monthly report task, run by `handler`. */
function reportTask(handler: TaskOptions<z.infer<typeof report>>["handler"]) {
  return defineTask({ name: "reports.monthly", payload: report, handler });
}

/** The monthly report task, keeping in `handled` the month of each job it runs. */
function recordingReportTask() {
  const handled: string[] = [];
  const task = reportTask(({ payload }) => {
    handled.push(payload.month);
  });
  return { task, handled };
}

describe.each(engines)("stopping ($name)", (engine: TestEngine) => {
  const world = useJobsWorld(engine);

  it("answers a second stop() with the same promise", async () => {
    const task = reportTask(() => {});
    const jobs = world.engine({ tasks: [task] });

    const first = jobs.stop(50);
    const second = jobs.stop(50);

    expect(second).toBe(first);
    await expect(first).resolves.toBeUndefined();
  });

  it("lets a job that ends within the grace finish and record its outcome", async () => {
    const task = reportTask(() => sleep(100));
    const jobs = world.engine({ tasks: [task] });
    const { id } = await jobs.enqueue(task, { month: "2026-02" });

    await jobs.stop(5_000);

    expect(await world.job(id)).toMatchObject({ status: "succeeded", attempts: 1 });
    expect((await world.runs(id)).map((run) => run.outcome)).toEqual(["succeeded"]);
  });

  it("releases a job still running past the grace: queued again, unlocked, and a released run recorded", async () => {
    const started = deferred();
    const reasons: unknown[] = [];
    const task = reportTask(async ({ signal }) => {
      started.resolve();
      const reason = await untilAborted(signal);
      reasons.push(reason);
      throw reason;
    });
    const jobs = world.engine({ tasks: [task] });
    const { id } = await jobs.enqueue(task, { month: "2026-02" });
    await started.promise;

    await jobs.stop(100);
    await jobs.idle();

    expect(reasons).toEqual([expect.objectContaining({ code: "shutdown" })]);
    expect(await world.job(id)).toMatchObject({
      status: "queued",
      attempts: 1,
      locked_by: null,
      locked_until: null,
      run_at: world.clock.now(),
    });
    expect((await world.runs(id)).map((run) => [run.attempt, run.outcome, run.error])).toEqual([
      [1, "released", "the process stopped before the attempt ended"],
    ]);
    expect(world.logs.lines()).toContainEqual(
      expect.objectContaining({ msg: "released the leases of unfinished jobs", released: 1 }),
    );

    // Another engine runs it next, as its second attempt.
    const next = world.engine({ tasks: [defineTask({ ...task, handler: () => {} })] });
    const drained = await next.drain();
    expect(drained.outcomes.map((o) => [o.jobId, o.attempt, o.outcome])).toEqual([
      [id, 2, "succeeded"],
    ]);
  });

  it("releases a job enqueued just before stop(0) without running it", async () => {
    const { task, handled } = recordingReportTask();
    const jobs = world.engine({ tasks: [task] });
    const { id } = await jobs.enqueue(task, { month: "2026-02" });

    await jobs.stop(0);
    await jobs.idle();
    await sleep(50);

    expect(await world.job(id)).toMatchObject({ status: "queued", attempts: 0, locked_by: null });
    expect(await world.runs(id)).toEqual([]);
    expect(handled).toEqual([]);
  });

  it("stores a job enqueued after stop() as queued, for another process to run", async () => {
    const { task, handled } = recordingReportTask();
    const jobs = world.engine({ tasks: [task] });
    await jobs.stop(50);

    const enqueued = await jobs.enqueue(task, { month: "2026-03" });
    await jobs.idle();

    expect(enqueued).toEqual({ id: enqueued.id, created: true, status: "queued" });
    expect(handled).toEqual([]);
  });
});

describe.each(engines)("the timer ($name)", (engine: TestEngine) => {
  const world = useJobsWorld(engine);

  it("drains jobs enqueued by another process without a call to drain(), until stopped", async () => {
    const { task, handled } = recordingReportTask();
    const timed = world.engine({ tasks: [task], timerMs: 50, listen: false });
    const other = world.engine({ tasks: [task] });
    timed.start();
    timed.start();

    const [first] = await other.enqueueMany(task, [{ month: "2026-01" }]);
    await waitFor("the timer to run the job", () => handled.length === 1);
    await timed.idle();

    expect(handled).toEqual(["2026-01"]);
    expect(await world.job(first as number)).toMatchObject({ status: "succeeded" });
    expect((await world.runs(first as number)).map((run) => [run.trigger, run.worker])).toEqual([
      ["timer", timed.worker],
    ]);

    await timed.stop(1_000);
    const [second] = await other.enqueueMany(task, [{ month: "2026-02" }]);
    // Six beats of the old timer: none of them may run the job.
    await sleep(300);

    expect(handled).toEqual(["2026-01"]);
    expect(await world.job(second as number)).toMatchObject({ status: "queued", attempts: 0 });
  });
});
