import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import type { Database } from "../../src/db/database.js";
import { engines, type TestEngine } from "../support/databases.js";
import { countsBy, waitFor } from "../support/jobs.js";
import { exited } from "../support/processes.js";
import {
  databaseWithEffectJobs,
  effectsPerJob,
  startEffectWorker,
  workerConnectionsClosed,
} from "../support/record-effect.js";

const JOBS = 500;

async function countEffects(database: Database): Promise<number> {
  const result = await sql<{ count: number }>`select count(*) as count from effects`.execute(
    database.db,
  );
  return Number(result.rows[0]?.count ?? 0);
}

describe.each(engines)("a drain killed with SIGKILL ($name)", (engine: TestEngine) => {
  let dispose: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await dispose?.();
  });

  it("loses no job: after a restart every effect is there, and no job ran more than twice", async () => {
    const { database, url, ids, dispose: drop } = await databaseWithEffectJobs(engine, JOBS);
    dispose = drop;
    expect(ids).toHaveLength(JOBS);

    // Kill the first worker in the middle of its drain.
    const first = startEffectWorker(url, 1_000);
    await waitFor(
      "the first worker to record a fifth of the effects",
      async () => (await countEffects(database)) >= JOBS / 5,
      60_000,
    );
    first.kill("SIGKILL");
    await exited(first);
    await workerConnectionsClosed(database);
    const atKill = await countEffects(database);
    expect(atKill).toBeLessThan(JOBS);
    const heldByTheDead = await database.db
      .selectFrom("jobs")
      .select((eb) => eb.fn.countAll<number>().as("count"))
      .where("status", "=", "running")
      .executeTakeFirstOrThrow();

    // A restarted worker takes over, including the jobs whose leases the dead one held.
    const second = startEffectWorker(url, 1_000);
    expect(await exited(second)).toBe(0);

    const perJob = await effectsPerJob(database);
    expect(perJob).toHaveLength(JOBS);
    expect(Math.max(...perJob.map((job) => job.times))).toBeLessThanOrEqual(2);
    expect(new Set(perJob.map((job) => job.jobId))).toEqual(new Set(ids));

    expect(await countsBy(database, "jobs", "status")).toEqual([["succeeded", JOBS]]);

    // Every lease the dead process held shows as a lost attempt.
    const lost = await database.db
      .selectFrom("job_runs")
      .select((eb) => eb.fn.countAll<number>().as("count"))
      .where("outcome", "=", "lost")
      .executeTakeFirstOrThrow();
    expect(Number(lost.count)).toBe(Number(heldByTheDead.count));
  }, 120_000);
});
