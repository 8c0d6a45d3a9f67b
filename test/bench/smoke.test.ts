import { describe, expect, it } from "vitest";
import { formatTable, runBench } from "../../bench/main.js";
import { postgresUrl } from "../support/databases.js";

describe("the benchmark harness (tiny sizes)", () => {
  it("measures every figure as a positive number and prints a row for each", async () => {
    const report = await runBench({ quick: true, postgresUrl, log: () => {} });
    const expected = [
      "drain, SQLite / concurrency 8",
      "drain, SQLite / concurrency 24",
      "enqueue, SQLite / one at a time",
      "enqueue, SQLite / batches of 500",
      "commit to start, SQLite / p50 (inline-first)",
      "commit to start, SQLite / p99 (inline-first)",
      "SQLite floor / raw loop, same writes per job",
      "SQLite floor / drain / raw loop",
    ];
    const names = report.rows.map((row) => `${row.section} / ${row.measure}`);
    expect(names).toEqual(expect.arrayContaining(expected));
    if (postgresUrl) expect(names).toContain("drain, PostgreSQL / concurrency 8");
    for (const row of report.rows) {
      expect(Number.isFinite(row.value), `${row.section} / ${row.measure}`).toBe(true);
      expect(row.value, `${row.section} / ${row.measure}`).toBeGreaterThan(0);
    }
    const table = formatTable(report);
    expect(table.split("\n")).toHaveLength(report.rows.length + 2);
  }, 120_000);
});
