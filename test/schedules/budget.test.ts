import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as z from "zod";
import { FakeClock } from "../../src/clock.js";
import { defineTask } from "../../src/jobs/task.js";
import type { Service } from "../../src/runtime.js";
import { engines, type TestEngine } from "../support/databases.js";
import { sleep } from "../support/jobs.js";
import { postTick, startTestService } from "../support/service.js";

const TASK = "test.slow-report";
const JOBS = 10;

interface TickAnswer {
  status: string;
  drain: { succeeded: number; failed: number; dead: number; running: number; released: number };
  remaining: number;
}

describe.each(engines)("the tick's time budget ($name)", (engine: TestEngine) => {
  let service: Service;
  let ran: number[];
  let dispose: () => Promise<void>;

  beforeEach(async () => {
    ran = [];
    const slow = defineTask({
      name: TASK,
      payload: z.object({ n: z.number().int() }),
      handler: async ({ payload }) => {
        await sleep(400);
        ran.push(payload.n);
      },
    });
    ({ service, dispose } = await startTestService({
      engine,
      clock: new FakeClock("2026-03-02T12:00:00Z"),
      tasks: [slow],
      schedules: [],
      // Two at a time: ten jobs of 400 ms take about 2 s, twice the smallest budget. Without
      // listening, no wake-up drain (PostgreSQL runs one on connecting) takes them before a tick.
      jobs: { concurrency: 2, listen: false },
      stopGraceMs: 5_000,
    }));
  });

  afterEach(async () => {
    await dispose?.();
  });

  const tick = (query = "") => postTick(service, { query });

  it("answers work remaining after ?budget=1, and the following ticks run every job exactly once", async () => {
    const { db } = service.database;
    for (let n = 0; n < JOBS; n++) {
      // With `db` given, the job is only stored (no inline-first run): a drain must take it.
      await service.jobs.enqueue(TASK, { n }, { db, notify: false });
    }

    const response = await tick("?budget=1");
    const first = (await response.json()) as TickAnswer;
    const answers = [first];
    for (let more = 0; more < 10 && answers.at(-1)!.remaining > 0; more++) {
      answers.push((await (await tick("?budget=30")).json()) as TickAnswer);
    }
    await service.jobs.idle();

    expect(response.status).toBe(200);
    expect(first.drain.succeeded).toBeLessThan(JOBS);
    expect(first.remaining + first.drain.running).toBeGreaterThan(0);
    expect(first.drain.succeeded + first.drain.running + first.drain.released).toBe(JOBS);
    expect(first.remaining).toBe(first.drain.released);
    expect(answers.at(-1)?.remaining).toBe(0);
    const jobs = await db
      .selectFrom("jobs")
      .select(["id", "status"])
      .where("task", "=", TASK)
      .execute();
    expect(jobs.map((job) => job.status)).toEqual(Array(JOBS).fill("succeeded"));
    const runs = await db
      .selectFrom("job_runs")
      .select(["job_id", "outcome"])
      .where("task", "=", TASK)
      .execute();
    expect(runs.map((run) => run.job_id).sort((a, b) => a - b)).toEqual(
      jobs.map((job) => job.id).sort((a, b) => a - b),
    );
    expect(runs.map((run) => run.outcome)).toEqual(Array(JOBS).fill("succeeded"));
    expect([...ran].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it.each(["abc", "0", "301", "-5"])(
    "answers 400 invalid_budget for ?budget=%s",
    async (budget) => {
      const response = await tick(`?budget=${budget}`);

      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        error: "invalid_budget",
        message: `\`budget\` must be a number of seconds from 1 to 300, got "${budget}".`,
      });
    },
  );
});
