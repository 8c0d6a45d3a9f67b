import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeClock } from "../../src/clock.js";
import type { Service } from "../../src/runtime.js";
import { TEST_KEY } from "../support/config.js";
import { engines, type TestEngine } from "../support/databases.js";
import { startSlotService } from "../support/record-slot.js";

const SCHEDULE = "test.morning-report";
const TASK = "test.record-slot";
/** Monday 06:00 in São Paulo; the weekday 07:00 slot is 10:00 UTC. */
const NOW = "2026-03-02T09:00:00.000Z";

interface JobsListing {
  tasks: {
    name: string;
    durable: boolean;
    max_attempts: number | null;
    last_run: {
      job_id: number;
      outcome: string;
      finished_at: string | null;
      error: string | null;
    } | null;
  }[];
  schedules: Record<string, unknown>[];
  last_trigger_at: string | null;
}

describe.each(engines)("the jobs API ($name)", (engine: TestEngine) => {
  let service: Service;
  let ran: string[];
  let dispose: () => Promise<void>;

  beforeEach(async () => {
    ({ service, ran, dispose } = await startSlotService({
      engine,
      clock: new FakeClock(NOW),
      task: { name: TASK, maxAttempts: 3 },
      schedule: {
        name: SCHEDULE,
        cron: "0 7 * * 1-5",
        timezone: "America/Sao_Paulo",
        catchUp: "all",
      },
    }));
  });

  afterEach(async () => {
    await dispose?.();
  });

  const request = (pathname: string, method = "GET") =>
    fetch(`${service.url}${pathname}`, {
      method,
      headers: { authorization: `Api-Key ${TEST_KEY}` },
    });

  const listing = async (): Promise<JobsListing> => {
    const response = await request("/api/v1/jobs/");
    expect(response.status).toBe(200);
    return (await response.json()) as JobsListing;
  };

  it("GET /api/v1/jobs/ lists every task and each schedule with its next slot", async () => {
    const jobs = await listing();

    expect(jobs.tasks.map((task) => [task.name, task.durable])).toEqual([
      ["audit.record", false],
      ["inventory.check-low-stock", true],
      ["mail.send", true],
      [TASK, true],
    ]);
    expect(jobs.tasks.find((task) => task.name === TASK)).toEqual({
      name: TASK,
      durable: true,
      manual: false,
      max_attempts: 3,
      last_run: null,
    });
    expect(jobs.schedules).toEqual([
      {
        name: SCHEDULE,
        cron: "0 7 * * 1-5",
        timezone: "America/Sao_Paulo",
        task: TASK,
        catch_up: "all",
        last_slot: NOW,
        last_fired_at: null,
        next_slot: "2026-03-02T10:00:00.000Z",
        overdue: false,
        last_outcome: null,
      },
    ]);
    expect(jobs.last_trigger_at).toBeNull();
  });

  it.each([`/api/v1/jobs/${SCHEDULE}/`, `/api/v1/jobs/${SCHEDULE}`])(
    "POST %s runs the schedule's task now and answers its outcome",
    async (pathname) => {
      const response = await request(pathname, "POST");

      expect(response.status).toBe(200);
      const body = (await response.json()) as { job_id: number };
      expect(body).toEqual({
        status: "success",
        job_id: expect.any(Number),
        task: TASK,
        outcome: "succeeded",
      });
      expect(ran).toEqual([NOW]);
      const after = await listing();
      expect(after.tasks.find((task) => task.name === TASK)?.last_run).toEqual({
        job_id: body.job_id,
        outcome: "succeeded",
        finished_at: NOW,
        error: null,
      });
      expect(after.schedules[0]).toMatchObject({ last_outcome: "succeeded", last_fired_at: null });
    },
  );

  it("POST /api/v1/jobs/nope/ answers 404 unknown_job", async () => {
    const response = await request("/api/v1/jobs/nope/", "POST");

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: "unknown_job",
      message: 'There is no schedule or manual task named "nope". GET /api/v1/jobs/ lists them.',
    });
  });

  it("refuses to run a task not declared manual, so the key cannot send an e-mail of its choice", async () => {
    const response = await request("/api/v1/jobs/mail.send/", "POST");

    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: string }).error).toBe("unknown_job");
    const mailJobs = await service.database.db
      .selectFrom("jobs")
      .select("id")
      .where("task", "=", "mail.send")
      .execute();
    expect(mailJobs).toEqual([]);
  });

  it.each([
    ["GET", "/api/v1/jobs/"],
    ["POST", `/api/v1/jobs/${SCHEDULE}/`],
  ])("%s %s without a key answers 401 and runs nothing", async (method, pathname) => {
    const response = await fetch(`${service.url}${pathname}`, { method });

    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe("missing_credentials");
    expect(ran).toEqual([]);
  });
});
