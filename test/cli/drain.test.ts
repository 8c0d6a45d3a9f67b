import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/commands.js";
import { engines, migratedDatabase } from "../support/databases.js";

const sqlite = engines[0]!;

describe("davus drain", () => {
  const saved: Record<string, string | undefined> = {};
  let dispose: (() => Promise<void>) | undefined;

  afterEach(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await dispose?.();
  });

  it("says how many jobs a lease still holds, and until when, so 'remaining 0' does not hide them", async () => {
    const { database, url, dispose: drop } = await migratedDatabase(sqlite);
    dispose = drop;
    const until = Date.parse("2031-01-01T00:00:00Z");
    await database.db
      .insertInto("jobs")
      .values({
        task: "mail.send",
        payload: "{}",
        status: "running",
        priority: 0,
        run_at: 0,
        attempts: 1,
        max_attempts: 12,
        locked_by: "a-process-that-died",
        locked_until: until,
        created_at: 0,
        updated_at: 0,
      })
      .execute();
    for (const [name, value] of Object.entries({ DATABASE_URL: url, LOG_LEVEL: "silent" })) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }

    const printed: string[] = [];
    expect(await runCli(["drain", "--budget", "2"], (line) => printed.push(line))).toBe(0);
    expect(printed).toEqual([
      "succeeded 0, failed 0, dead 0, remaining 0; 1 held by a lease until 2031-01-01T00:00:00.000Z at the latest (a process that died frees them then).",
    ]);
  });
});
