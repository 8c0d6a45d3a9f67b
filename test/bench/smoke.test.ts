import { describe, expect, it } from "vitest";
import { formatNotes, formatTable, runBench } from "../../bench/main.js";
import { postgresUrl } from "../support/databases.js";

describe("the benchmark harness (tiny sizes)", () => {
  it("measures every figure as a positive number and prints a row for each", async () => {
    const report = await runBench({ quick: true, postgresUrl, log: () => {} });
    expect(report.errors).toEqual([]);

    const names = report.rows.map((row) => `${row.section} / ${row.measure}`);
    const expected = [
      "drain, SQLite / davus, concurrency 8",
      "drain, SQLite / davus, concurrency 24",
      "drain, SQLite / raw better-sqlite3 loop, same schema and statements",
      "drain, SQLite / for scale: raw loop on a minimal table (one index)",
      "enqueue, SQLite / davus, one at a time",
      "enqueue, SQLite / davus, batches of 500",
      "commit to start, SQLite / davus inline-first, p50",
      "commit to start, SQLite / davus inline-first, p99",
      "check-stock, 2,000 products, 20 low / SQLite, time",
      "check-stock, 2,000 products, 20 low / SQLite, SQL statements",
      "service process / start to first 200, davus",
      "service process / start to first 200, bare Hono",
      "service process / RSS idle, davus",
      "service process / RSS after 200 jobs, davus",
      "service process / GET /health/ req/s, davus",
      "service process / POST tick, nothing due, req/s, davus",
    ];
    if (postgresUrl) {
      expected.push(
        "drain, PostgreSQL, concurrency 8 / davus",
        "drain, PostgreSQL, concurrency 24 / graphile-worker, batched",
        "drain, PostgreSQL, concurrency 24 / pg-boss, per job",
        "enqueue, PostgreSQL / pg-boss, batches of 500 (200)",
        "enqueue to start, PostgreSQL, concurrency 1, 30 jobs / davus cross-process, p50",
        "enqueue to start, PostgreSQL, concurrency 1, 30 jobs / graphile-worker, same process, p99",
        "enqueue to start, PostgreSQL, concurrency 1, 30 jobs / graphile-worker, cross-process, p50",
        "check-stock, 2,000 products, 20 low / PostgreSQL, SQL statements",
      );
    }
    expect(names).toEqual(expect.arrayContaining(expected));
    for (const row of report.rows) {
      const name = `${row.section} / ${row.measure}`;
      expect(Number.isFinite(row.value), name).toBe(true);
      expect(row.value, name).toBeGreaterThan(0);
      for (const ratio of row.ratios ?? []) expect(ratio.value, name).toBeGreaterThan(0);
    }

    // The peers' rows carry the ratio of this project's figure to theirs.
    const batched = report.rows.find((row) => row.measure === "graphile-worker, batched");
    if (postgresUrl) expect(batched?.ratios?.[0]?.ours).toBe("davus");

    const table = formatTable(report);
    expect(table.split("\n")).toHaveLength(report.rows.length + 2);
    expect(formatNotes(report)).toContain(postgresUrl ? "concurrentJobs" : "autocannon");
  }, 60_000);
});
