import { describe, expect, it } from "vitest";
import { z } from "zod";
import { AppError } from "../../src/errors.js";
import { defineTask } from "../../src/jobs/task.js";
import { engines, type TestEngine } from "../support/databases.js";
import { ConcurrencyProbe, sleep, useJobsWorld } from "../support/jobs.js";

const item = z.object({ n: z.number().int() });
const DAY = 86_400_000;

/** Three tasks whose handlers succeed, fail for now, and fail for good. */
function outcomeTasks() {
  return {
    ok: defineTask({ name: "demo.ok", payload: item, handler: () => {} }),
    flaky: defineTask({
      name: "demo.flaky",
      payload: item,
      maxAttempts: 5,
      handler: () => {
        throw new Error("upstream answered 503");
      },
    }),
    broken: defineTask({
      name: "demo.broken",
      payload: item,
      handler: () => {
        throw new AppError("bad_address", "550 no such user", { retryable: false });
      },
    }),
  };
}

describe.each(engines)("draining the queue ($name)", (engine: TestEngine) => {
  const world = useJobsWorld(engine);

  it("claims quick jobs hundreds at a time, and slow ones a few at a time", async () => {
    // Every handler moves the clock on, so the jobs of one claim share their claim time
    // (jobs.started_at) and each claim has its own.
    const quick = defineTask({
      name: "demo.quick",
      payload: item,
      handler: () => world.clock.advance(1),
    });
    const slow = defineTask({
      name: "demo.slow",
      payload: item,
      handler: async () => {
        world.clock.advance(1);
        await sleep(20);
      },
    });
    const claims = async (task: string) => {
      const rows = await world.database.db
        .selectFrom("jobs")
        .select("started_at")
        .distinct()
        .where("task", "=", task)
        .execute();
      return rows.length;
    };
    const jobs = world.engine({ tasks: [quick, slow], batchSize: 10 });

    await jobs.enqueueMany(
      quick,
      Array.from({ length: 2_000 }, (_, n) => ({ n })),
    );
    expect((await jobs.drain({ concurrency: 4 })).counts.succeeded).toBe(2_000);
    await jobs.enqueueMany(
      slow,
      Array.from({ length: 40 }, (_, n) => ({ n })),
    );
    expect((await jobs.drain({ concurrency: 4 })).counts.succeeded).toBe(40);

    // 2,000 quick jobs in batches of 10 would take 200 claims; they grow to 500 at most.
    expect(await claims("demo.quick")).toBeLessThan(40);
    // Slow jobs (20 ms each, four slots, 50 ms of work claimed ahead): ten at a time.
    expect(await claims("demo.slow")).toBeGreaterThanOrEqual(4);
  });

  it("lets timers and requests have the event loop while it drains jobs that never wait", async () => {
    // Each handler holds the thread for a millisecond and awaits nothing: on SQLite nothing
    // else in the drain waits on I/O either.
    const busy = defineTask({
      name: "demo.busy",
      payload: item,
      handler: () => {
        const until = performance.now() + 1;
        while (performance.now() < until) {}
      },
    });
    const jobs = world.engine({ tasks: [busy] });
    await jobs.enqueueMany(
      busy,
      Array.from({ length: 60 }, (_, n) => ({ n })),
    );

    let draining = true;
    const timerRuns: boolean[] = [];
    const timer = setInterval(() => timerRuns.push(draining), 1);
    const drained = await jobs.drain({ concurrency: 4 });
    draining = false;
    clearInterval(timer);

    expect(drained.counts.succeeded).toBe(60);
    // 60 ms of handlers in a row; the drain steps aside every 10 ms or so.
    expect(timerRuns.filter((during) => during).length).toBeGreaterThanOrEqual(2);
  });

  it("answers with each job's outcome, counts per outcome, and the due jobs remaining", async () => {
    const { ok, flaky, broken } = outcomeTasks();
    const jobs = world.engine({ tasks: [ok, flaky, broken] });
    const okIds = await jobs.enqueueMany(ok, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    const flakyIds = await jobs.enqueueMany(flaky, [{ n: 4 }, { n: 5 }]);
    const brokenIds = await jobs.enqueueMany(broken, [{ n: 6 }]);
    const later = await jobs.enqueueMany(ok, [{ n: 7 }], { runAt: world.clock.now() + 60_000 });

    const drained = await jobs.drain();

    expect(drained.counts).toEqual({ succeeded: 3, failed: 2, dead: 1, running: 0, released: 0 });
    expect(drained.remaining).toBe(0);
    const byJob = new Map(drained.outcomes.map((o) => [o.jobId, o.outcome]));
    expect([...byJob.keys()].sort((x, y) => x - y)).toEqual([...okIds, ...flakyIds, ...brokenIds]);
    for (const id of okIds) expect(byJob.get(id)).toBe("succeeded");
    for (const id of flakyIds) expect(byJob.get(id)).toBe("failed");
    expect(byJob.get(brokenIds[0] as number)).toBe("dead");
    expect((await world.job(later[0] as number)).status).toBe("queued");

    // The job due in a minute and the retries (750 ms) are due by then.
    world.clock.advance(60_000);
    const next = await jobs.drain({ budgetMs: 0 });
    expect(next.outcomes).toEqual([]);
    expect(next.remaining).toBe(3);
  });

  it("counts as remaining the due jobs and those whose lease expired, not finished or held ones", async () => {
    const { ok } = outcomeTasks();
    const jobs = world.engine({ tasks: [ok] });
    await jobs.enqueueMany(
      ok,
      Array.from({ length: 50 }, (_, n) => ({ n })),
    );
    await jobs.drain();
    const [expired, held, due] = await jobs.enqueueMany(ok, [{ n: 51 }, { n: 52 }, { n: 53 }], {
      runAt: world.clock.now() + 60_000,
    });
    const now = world.clock.now();
    const lease = (id: number | undefined, lockedUntil: number) =>
      world.database.db
        .updateTable("jobs")
        .set({ status: "running", locked_by: "gone", locked_until: lockedUntil, run_at: now })
        .where("id", "=", id as number)
        .execute();
    await lease(expired, now - 1);
    await lease(held, now + 60_000);
    await world.database.db
      .updateTable("jobs")
      .set({ run_at: now })
      .where("id", "=", due as number)
      .execute();

    const drained = await jobs.drain({ budgetMs: 0 });

    expect(drained.outcomes).toEqual([]);
    expect(drained.remaining).toBe(2);
  });

  it("stops at its budget with remaining above 0, and a later drain finishes the rest", async () => {
    const probe = new ConcurrencyProbe();
    const ranTimes = new Map<number, number>();
    const slow = defineTask({
      name: "demo.slow",
      payload: item,
      handler: ({ payload }) =>
        probe.around(async () => {
          ranTimes.set(payload.n, (ranTimes.get(payload.n) ?? 0) + 1);
          await sleep(300);
        }),
    });
    const jobs = world.engine({ tasks: [slow] });
    const ids = await jobs.enqueueMany(
      slow,
      [1, 2, 3, 4, 5, 6].map((n) => ({ n })),
    );

    const first = await jobs.drain({ budgetMs: 100, concurrency: 2 });

    expect(first.counts.succeeded).toBe(0);
    expect(first.remaining).toBeGreaterThan(0);
    // Claimed jobs that did not start go back to the queue without an attempt counted.
    const released = first.outcomes.filter((o) => o.outcome === "released");
    for (const outcome of released) {
      expect(await world.job(outcome.jobId)).toMatchObject({ status: "queued", attempts: 0 });
    }

    const second = await jobs.drain({ concurrency: 2 });
    await jobs.idle();

    expect(second.remaining).toBe(0);
    expect([...ranTimes.entries()].sort(([x], [y]) => x - y)).toEqual(
      [1, 2, 3, 4, 5, 6].map((n) => [n, 1]),
    );
    for (const id of ids) {
      expect(await world.job(id)).toMatchObject({ status: "succeeded", attempts: 1 });
    }
    expect(await world.countRows("job_runs")).toBe(6);
  });

  it("never runs more handlers at once than its concurrency", async () => {
    const probe = new ConcurrencyProbe();
    const task = defineTask({
      name: "demo.slow",
      payload: item,
      handler: () => probe.around(() => sleep(40)),
    });
    const jobs = world.engine({ tasks: [task], batchSize: 4 });
    await jobs.enqueueMany(
      task,
      Array.from({ length: 10 }, (_, n) => ({ n })),
    );

    const drained = await jobs.drain({ concurrency: 3 });

    expect(drained.counts.succeeded).toBe(10);
    expect(probe.max).toBe(3);
  });

  it("runs due jobs by priority, highest first, then oldest", async () => {
    const order: number[] = [];
    const task = defineTask({
      name: "demo.ordered",
      payload: item,
      handler: ({ payload }) => {
        order.push(payload.n);
      },
    });
    const jobs = world.engine({ tasks: [task] });
    await jobs.enqueueMany(task, [{ n: 1 }]);
    await jobs.enqueueMany(task, [{ n: 2 }], { priority: 10 });
    await jobs.enqueueMany(task, [{ n: 3 }], { runAt: world.clock.now() - 1_000 });

    await jobs.drain({ concurrency: 1 });

    expect(order).toEqual([2, 3, 1]);
  });
});

describe.each(engines)("pruning ($name)", (engine: TestEngine) => {
  const world = useJobsWorld(engine);

  it("deletes succeeded jobs past the retention with their runs, and keeps recent, failed and dead ones", async () => {
    const { ok, flaky, broken } = outcomeTasks();
    const jobs = world.engine({ tasks: [ok, flaky, broken], retentionMs: DAY });
    const [old] = await jobs.enqueueMany(ok, [{ n: 1 }]);
    const [failed] = await jobs.enqueueMany(flaky, [{ n: 2 }]);
    const [dead] = await jobs.enqueueMany(broken, [{ n: 3 }]);
    await jobs.drain();

    world.clock.advance(DAY / 2);
    const [recent] = await jobs.enqueueMany(ok, [{ n: 4 }]);
    await jobs.drain();
    expect(await world.countRows("jobs")).toBe(4);

    world.clock.advance(DAY / 2 + 1);
    await jobs.drain();

    const left = await world.database.db.selectFrom("jobs").select(["id", "status"]).execute();
    expect(left.sort((x, y) => x.id - y.id)).toEqual([
      { id: failed, status: "failed" },
      { id: dead, status: "dead" },
      { id: recent, status: "succeeded" },
    ]);
    expect(await world.runs(old as number)).toEqual([]);
    expect((await world.runs(recent as number)).map((run) => run.outcome)).toEqual(["succeeded"]);
    expect((await world.runs(dead as number)).map((run) => run.outcome)).toEqual(["dead"]);
    expect(world.logs.lines()).toContainEqual(
      expect.objectContaining({ msg: "pruned succeeded jobs past the retention", deleted: 1 }),
    );
  });
});
