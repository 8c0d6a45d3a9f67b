/**
 * `npm run bench`: throughput and latency of the job engine, printed as a table and written
 * as JSON to bench/results/latest.json. `--quick` runs tiny sizes (the test suite's smoke
 * run). PostgreSQL figures need DAVUS_BENCH_POSTGRES_URL (or DAVUS_TEST_POSTGRES_URL).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  drainThroughput,
  enqueueThroughput,
  inlineFirstLatency,
  medianOf,
  rawSqliteLoop,
  type Sizes,
} from "./engine-bench.js";
import { type BenchDatabase, freshPostgres, freshSqlite } from "./harness.js";

export interface Row {
  section: string;
  measure: string;
  value: number;
  unit: string;
  note?: string;
}

export interface BenchReport {
  machine: string;
  node: string;
  date: string;
  quick: boolean;
  rows: Row[];
}

const FULL: Sizes = {
  drainJobs: 20_000,
  enqueueOne: 2_000,
  enqueueBatch: 20_000,
  latencyJobs: 1_000,
  runs: 3,
};
const QUICK: Sizes = {
  drainJobs: 200,
  enqueueOne: 50,
  enqueueBatch: 200,
  latencyJobs: 30,
  runs: 1,
};

export async function runBench(options: {
  quick: boolean;
  postgresUrl: string | undefined;
  log?: (line: string) => void;
}): Promise<BenchReport> {
  const sizes = options.quick ? QUICK : FULL;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const rows: Row[] = [];
  const engines: { name: string; fresh: () => Promise<BenchDatabase> }[] = [
    { name: "SQLite", fresh: freshSqlite },
  ];
  if (options.postgresUrl) {
    const url = options.postgresUrl;
    engines.push({ name: "PostgreSQL", fresh: () => freshPostgres(url) });
  } else {
    log("PostgreSQL figures skipped: set DAVUS_BENCH_POSTGRES_URL (or DAVUS_TEST_POSTGRES_URL).");
  }

  for (const engine of engines) {
    for (const concurrency of [8, 24]) {
      log(`${engine.name}: drain ${sizes.drainJobs} no-op jobs at concurrency ${concurrency} ...`);
      const rate = await medianOf(sizes.runs, engine.fresh, (target) =>
        drainThroughput(target, sizes.drainJobs, concurrency),
      );
      rows.push({
        section: `drain, ${engine.name}`,
        measure: `concurrency ${concurrency}`,
        value: rate,
        unit: "jobs/s",
      });
    }
    log(`${engine.name}: enqueue ...`);
    const enqueue: { one: number[]; batch: number[] } = { one: [], batch: [] };
    for (let run = 0; run < sizes.runs; run++) {
      const target = await engine.fresh();
      try {
        const measured = await enqueueThroughput(target, sizes.enqueueOne, sizes.enqueueBatch);
        enqueue.one.push(measured.one);
        enqueue.batch.push(measured.batch);
      } finally {
        await target.drop();
      }
    }
    const { median } = await import("./harness.js");
    rows.push({
      section: `enqueue, ${engine.name}`,
      measure: "one at a time",
      value: median(enqueue.one),
      unit: "jobs/s",
    });
    rows.push({
      section: `enqueue, ${engine.name}`,
      measure: "batches of 500",
      value: median(enqueue.batch),
      unit: "jobs/s",
    });

    log(`${engine.name}: commit to handler start ...`);
    const latencies: { p50: number; p99: number }[] = [];
    for (let run = 0; run < sizes.runs; run++) {
      const target = await engine.fresh();
      try {
        latencies.push(await inlineFirstLatency(target, sizes.latencyJobs));
      } finally {
        await target.drop();
      }
    }
    rows.push({
      section: `commit to start, ${engine.name}`,
      measure: "p50 (inline-first)",
      value: median(latencies.map((l) => l.p50)),
      unit: "ms",
    });
    rows.push({
      section: `commit to start, ${engine.name}`,
      measure: "p99 (inline-first)",
      value: median(latencies.map((l) => l.p99)),
      unit: "ms",
    });
  }

  log(`SQLite: raw better-sqlite3 loop over ${sizes.drainJobs} jobs ...`);
  const raw = await medianOf(sizes.runs, freshSqlite, () => rawSqliteLoop(sizes.drainJobs));
  const ours =
    rows.find((row) => row.section === "drain, SQLite" && row.measure === "concurrency 8")?.value ??
    0;
  rows.push({
    section: "SQLite floor",
    measure: "raw loop, same writes per job",
    value: raw,
    unit: "jobs/s",
  });
  rows.push({
    section: "SQLite floor",
    measure: "drain / raw loop",
    value: ours / raw,
    unit: "ratio",
    note: "target >= 0.5",
  });

  return {
    machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}`,
    node: process.version,
    date: new Date().toISOString(),
    quick: options.quick,
    rows,
  };
}

export function formatTable(report: BenchReport): string {
  const lines = [
    `| section | measure | value | unit |`,
    `| --- | --- | ---: | --- |`,
    ...report.rows.map(
      (row) =>
        `| ${row.section} | ${row.measure} | ${formatValue(row.value, row.unit)} | ${row.unit}${row.note ? ` (${row.note})` : ""} |`,
    ),
  ];
  return lines.join("\n");
}

function formatValue(value: number, unit: string): string {
  if (unit === "ms" || unit === "ratio") return value.toFixed(value < 10 ? 2 : 1);
  return Math.round(value).toLocaleString("en-US");
}

const invoked =
  process.argv[1] && path.resolve(process.argv[1]).endsWith(path.join("bench", "main.ts"));
if (invoked) {
  const quick = process.argv.includes("--quick");
  const report = await runBench({
    quick,
    postgresUrl: process.env.DAVUS_BENCH_POSTGRES_URL ?? process.env.DAVUS_TEST_POSTGRES_URL,
  });
  const table = formatTable(report);
  process.stdout.write(
    `\nMachine: ${report.machine}; Node ${report.node}; ${report.date}\n\n${table}\n`,
  );
  const out = path.resolve("bench/results/latest.json");
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\nWritten to ${path.relative(process.cwd(), out)}\n`);
}
