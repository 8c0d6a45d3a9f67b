import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { FakeClock } from "../../src/clock.js";
import { defineTask } from "../../src/jobs/task.js";
import { type Service, startService } from "../../src/runtime.js";
import { defineSchedule } from "../../src/schedules/schedule.js";
import { TEST_KEY, testConfig } from "../support/config.js";
import { engines, type TestEngine } from "../support/databases.js";
import { waitFor } from "../support/jobs.js";

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
    ran = [];
    const task = defineTask({
      name: TASK,
      payload: z.object({ slot: z.string() }),
      handler: ({ payload }) => {
        ran.push(payload.slot);
      },
    });
    // Daily at 07:00 in São Paulo, 10:00 UTC; the service starts ten minutes before.
    const schedule = defineSchedule(SCHEDULE, {
      cron: "0 7 * * *",
      timezone: "America/Sao_Paulo",
      task,
    });
    const created = await engine.create();
    const outbox = fs.mkdtempSync(path.join(os.tmpdir(), "davus-outbox-"));
    clock = new FakeClock("2026-03-02T09:50:00Z");
    service = await startService({
      config: testConfig(created.url, { EMAIL_FILE_PATH: outbox }),
      clock,
      tasks: [task],
      schedules: [schedule],
    });
    dispose = async () => {
      await service.stop(1_000);
      await created.drop();
      fs.rmSync(outbox, { recursive: true, force: true });
    };
  });

  afterEach(async () => {
    await dispose?.();
  });

  const tick = async (): Promise<TickAnswer> => {
    const response = await fetch(`${service.url}/api/v1/jobs/tick/`, {
      method: "POST",
      headers: { authorization: `Api-Key ${TEST_KEY}` },
    });
    expect(response.status).toBe(200);
    return (await response.json()) as TickAnswer;
  };

  /** Until no job is queued or running: on PostgreSQL, a wake-up drain may run a slot's job. */
  const settled = () =>
    waitFor("every job to finish", async () => {
      const unfinished = await service.database.db
        .selectFrom("jobs")
        .select("id")
        .where("status", "in", ["queued", "running"])
        .execute();
      return unfinished.length === 0;
    });

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
    await settled();

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
    await settled();

    expect(first.fired.map((fired) => fired.slot)).toEqual([SLOT]);
    expect(second.fired).toEqual([]);
    expect(second.skipped).toEqual([]);
    expect(second.drain.succeeded).toBe(0);
    expect((await jobsOfTask()).map((job) => job.status)).toEqual(["succeeded"]);
    expect(ran).toEqual([SLOT]);
  });
});
