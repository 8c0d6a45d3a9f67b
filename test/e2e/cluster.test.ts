import { spawn } from "node:child_process";
import { sql } from "kysely";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/database.js";
import { engines, postgresUrl, type TestEngine } from "../support/databases.js";
import { countsBy, waitFor } from "../support/jobs.js";
import { exited } from "../support/processes.js";
import {
  databaseWithEffectJobs,
  effectsPerJob,
  startEffectWorker,
} from "../support/record-effect.js";

const postgres = engines.filter((engine) => engine.name === "postgres");

describe.skipIf(postgresUrl === undefined)("several instances on one PostgreSQL queue", () => {
  let dispose: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await dispose?.();
    dispose = undefined;
  });

  it.each([1, 2, 3])(
    "three processes drain 5,000 jobs and each runs exactly once (repetition %i)",
    async () => {
      const prepared = await databaseWithEffectJobs(postgres[0] as TestEngine, 5_000);
      dispose = prepared.dispose;

      const workers = [0, 1, 2].map(() => startEffectWorker(prepared.url, 60_000));
      expect(await Promise.all(workers.map(exited))).toEqual([0, 0, 0]);

      const perJob = await effectsPerJob(prepared.database);
      expect(perJob).toHaveLength(5_000);
      expect(perJob.filter((job) => job.times !== 1)).toEqual([]);
      const byProcess = await sql<{ pid: number; count: number }>`
      select pid, count(*) as count from effects group by pid`.execute(prepared.database.db);
      expect(byProcess.rows.length).toBeGreaterThanOrEqual(2);

      expect(await countsBy(prepared.database, "job_runs", "outcome")).toEqual([
        ["succeeded", 5_000],
      ]);
    },
    120_000,
  );

  it("survives pg_terminate_backend of a draining instance's connections: it reconnects and no job is lost", async () => {
    const prepared = await databaseWithEffectJobs(postgres[0] as TestEngine, 3_000);
    dispose = prepared.dispose;
    const dbName = new URL(prepared.url).pathname.slice(1);
    const worker = startEffectWorker(prepared.url, 60_000);

    const admin = new pg.Client({ connectionString: postgresUrl });
    await admin.connect();
    try {
      await waitFor(
        "the worker to record 500 effects",
        async () => (await countEffects(prepared.url)) >= 500,
        60_000,
      );
      const killed = await admin.query(
        "select pg_terminate_backend(pid) as killed from pg_stat_activity where datname = $1 and application_name = 'davus' and pid <> pg_backend_pid()",
        [dbName],
      );
      expect(killed.rowCount).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }

    expect(await exited(worker)).toBe(0);
    const perJob = await effectsPerJob(prepared.database);
    expect(perJob).toHaveLength(3_000);
    expect(Math.max(...perJob.map((job) => job.times))).toBeLessThanOrEqual(2);
    expect(await countsBy(prepared.database, "jobs", "status")).toEqual([["succeeded", 3_000]]);
  }, 120_000);
});

async function countEffects(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query("select count(*)::int as count from effects");
    return result.rows[0].count as number;
  } finally {
    await client.end();
  }
}

describe.each(engines)("two processes starting at once on an empty database ($name)", (engine) => {
  let drop: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await drop?.();
  });

  it("both come up, and each migration is applied once", async () => {
    const created = await engine.create();
    drop = created.drop;
    const migrate = () =>
      spawn(process.execPath, ["--import", "tsx", "src/cli/davus.ts", "migrate"], {
        env: { ...process.env, DATABASE_URL: created.url, LOG_LEVEL: "silent" },
        stdio: ["ignore", "pipe", "inherit"],
      });
    const children = [migrate(), migrate()];
    const outputs = children.map((child) => {
      let out = "";
      child.stdout?.on("data", (chunk) => {
        out += chunk;
      });
      return () => out;
    });
    expect(await Promise.all(children.map(exited))).toEqual([0, 0]);
    const said = outputs.map((output) => output()).sort();
    expect(said[0]).toMatch(/^Applied 0001_initial, 0002_trigger_signatures to /);
    expect(said[1]).toMatch(/is up to date \(0002_trigger_signatures\)/);

    const database = openDatabase(created.config);
    try {
      const rows = await sql<{
        name: string;
      }>`select name from schema_migrations order by name`.execute(database.db);
      expect(rows.rows.map((row) => row.name)).toEqual(["0001_initial", "0002_trigger_signatures"]);
    } finally {
      await database.close();
    }
  }, 60_000);
});
