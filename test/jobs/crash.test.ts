import { type ChildProcess, spawn } from "node:child_process";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.js";
import type { Database } from "../../src/db/database.js";
import { JobEngine } from "../../src/jobs/engine.js";
import { createLogger } from "../../src/logger.js";
import { engines, migratedDatabase, type TestEngine } from "../support/databases.js";
import { recordEffectTask } from "../support/record-effect.js";

const JOBS = 500;

function startWorker(url: string): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", "test/fixtures/crash-worker.ts"], {
    env: { ...process.env, DATABASE_URL: url, LEASE_MS: "1000" },
    stdio: ["ignore", "pipe", "inherit"],
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
}

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
    const { database, url, dispose: drop } = await migratedDatabase(engine);
    dispose = drop;
    await sql`create table effects (job_id bigint not null, n integer not null, pid integer not null)`.execute(
      database.db,
    );

    const enqueuer = new JobEngine({
      database,
      logger: createLogger("silent"),
      clock: systemClock,
      tasks: [recordEffectTask],
      timerMs: 0,
    });
    const ids = await enqueuer.enqueueMany(
      recordEffectTask,
      Array.from({ length: JOBS }, (_, n) => ({ n })),
    );
    expect(ids).toHaveLength(JOBS);

    // Kill the first worker in the middle of its drain.
    const first = startWorker(url);
    for (let waited = 0; (await countEffects(database)) < JOBS / 5; waited += 20) {
      if (waited > 60_000) throw new Error("the first worker made no progress");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    first.kill("SIGKILL");
    await exited(first);
    const atKill = await countEffects(database);
    expect(atKill).toBeLessThan(JOBS);
    const heldByTheDead = await database.db
      .selectFrom("jobs")
      .select((eb) => eb.fn.countAll<number>().as("count"))
      .where("status", "=", "running")
      .executeTakeFirstOrThrow();

    // A restarted worker takes over, including the jobs whose leases the dead one held.
    const second = startWorker(url);
    expect(await exited(second)).toBe(0);

    const perJob = await sql<{ job_id: number; times: number }>`
      select job_id, count(*) as times from effects group by job_id`.execute(database.db);
    const times = perJob.rows.map((row) => Number(row.times));
    expect(perJob.rows).toHaveLength(JOBS);
    expect(Math.max(...times)).toBeLessThanOrEqual(2);
    expect(new Set(perJob.rows.map((row) => Number(row.job_id)))).toEqual(new Set(ids));

    const statuses = await database.db
      .selectFrom("jobs")
      .select(["status", (eb) => eb.fn.countAll<number>().as("count")])
      .groupBy("status")
      .execute();
    expect(statuses.map((row) => [row.status, Number(row.count)])).toEqual([["succeeded", JOBS]]);

    // Every lease the dead process held shows as a lost attempt.
    const lost = await database.db
      .selectFrom("job_runs")
      .select((eb) => eb.fn.countAll<number>().as("count"))
      .where("outcome", "=", "lost")
      .executeTakeFirstOrThrow();
    expect(Number(lost.count)).toBe(Number(heldByTheDead.count));
  }, 120_000);
});
