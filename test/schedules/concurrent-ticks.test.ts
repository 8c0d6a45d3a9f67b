import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeClock } from "../../src/clock.js";
import type { Service } from "../../src/runtime.js";
import { engines, type TestEngine } from "../support/databases.js";
import { startSlotService } from "../support/record-slot.js";
import { allJobsFinished, tickAnswer } from "../support/service.js";

const SCHEDULE = "test.morning-report";
const TASK = "test.record-slot";
const SLOT = "2026-03-02T10:00:00.000Z";

interface TickAnswer {
  status: string;
  fired: { schedule: string; slot: string; job_id: number; late_by_ms: number }[];
  skipped: unknown[];
  drain: { succeeded: number };
}

describe.each(engines)("one due slot and many ticks ($name)", (engine: TestEngine) => {
  let service: Service;
  let clock: FakeClock;
  let ran: string[];
  let dispose: () => Promise<void>;

  beforeEach(async () => {
    clock = new FakeClock("2026-03-02T09:50:00Z");
    ({ service, ran, dispose } = await startSlotService({
      engine,
      clock,
      task: { name: TASK },
      // Daily at 07:00 in São Paulo, 10:00 UTC; the service starts ten minutes before.
      schedule: { name: SCHEDULE, cron: "0 7 * * *", timezone: "America/Sao_Paulo" },
    }));
  });

  afterEach(async () => {
    await dispose?.();
  });

  const tick = () => tickAnswer<TickAnswer>(service);

  const jobsOfTask = async () =>
    service.database.db
      .selectFrom("jobs")
      .select(["id", "status", "unique_key"])
      .where("task", "=", TASK)
      .execute();

  const runsOfTask = async () =>
    service.database.db
      .selectFrom("job_runs")
      .select(["job_id", "outcome"])
      .where("task", "=", TASK)
      .execute();

  it("20 concurrent ticks enqueue the slot's job once, and one answer lists it as fired", async () => {
    clock.set("2026-03-02T10:00:30Z");

    const answers = await Promise.all(Array.from({ length: 20 }, () => tick()));
    await allJobsFinished(service);

    const firing = answers.filter((answer) => answer.fired.length > 0);
    expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill("success"));
    expect(firing).toHaveLength(1);
    const jobs = await jobsOfTask();
    expect(firing[0]?.fired).toEqual([
      { schedule: SCHEDULE, slot: SLOT, job_id: jobs[0]?.id, late_by_ms: 30_000 },
    ]);
    expect(jobs).toEqual([
      { id: expect.any(Number), status: "succeeded", unique_key: `schedule:${SCHEDULE}:${SLOT}` },
    ]);
    expect(await runsOfTask()).toEqual([{ job_id: jobs[0]?.id, outcome: "succeeded" }]);
    expect(ran).toEqual([SLOT]);
  });

  it("two ticks in a row for the same slot: the second fires nothing", async () => {
    clock.set("2026-03-02T10:00:30Z");

    const first = await tick();
    clock.advance(60_000);
    const second = await tick();
    await allJobsFinished(service);

    expect(first.fired.map((fired) => fired.slot)).toEqual([SLOT]);
    expect(second.fired).toEqual([]);
    expect(second.skipped).toEqual([]);
    expect(second.drain.succeeded).toBe(0);
    expect((await jobsOfTask()).map((job) => job.status)).toEqual(["succeeded"]);
    expect(ran).toEqual([SLOT]);
  });
});
