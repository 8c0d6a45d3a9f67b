import { spawn } from "node:child_process";
import { once } from "node:events";
import readline from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/database.js";
import { engines, type TestEngine } from "../support/databases.js";

const GRACE_SECONDS = 2;

describe.each(engines)("SIGTERM ($name)", (engine: TestEngine) => {
  let drop: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await drop?.();
  });

  it("lets a short job finish, releases a long one, and exits 0 within the grace", async () => {
    const created = await engine.create();
    drop = created.drop;
    const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/serve-with-jobs.ts"], {
      env: {
        ...process.env,
        DATABASE_URL: created.url,
        EMAIL_BACKEND: "console",
        HOST: "127.0.0.1",
        PORT: "0",
        LOG_LEVEL: "warn",
        SHUTDOWN_GRACE_SECONDS: String(GRACE_SECONDS),
        SHORT_MS: "800",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const lines = readline.createInterface({ input: child.stdout });
    const [first] = (await once(lines, "line")) as [string];
    const { url, short, long } = JSON.parse(first) as { url: string; short: number; long: number };
    expect((await fetch(`${url}/health/`)).status).toBe(200);

    // Both jobs have started (inline-first) by the time SIGTERM arrives.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const sentAt = Date.now();
    child.kill("SIGTERM");
    const [code] = (await once(child, "exit")) as [number | null];
    const tookMs = Date.now() - sentAt;
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(tookMs).toBeLessThan((GRACE_SECONDS + 3) * 1000);

    const database = openDatabase(created.config);
    try {
      const jobs = await database.db
        .selectFrom("jobs")
        .select(["id", "status", "locked_by", "attempts"])
        .orderBy("id")
        .execute();
      expect(jobs).toEqual([
        { id: short, status: "succeeded", locked_by: null, attempts: 1 },
        { id: long, status: "queued", locked_by: null, attempts: 1 },
      ]);
      const runs = await database.db
        .selectFrom("job_runs")
        .select(["job_id", "outcome"])
        .orderBy("job_id")
        .execute();
      expect(runs).toEqual([
        { job_id: short, outcome: "succeeded" },
        { job_id: long, outcome: "released" },
      ]);
    } finally {
      await database.close();
    }
  }, 30_000);
});
