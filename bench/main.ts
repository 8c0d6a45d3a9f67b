/**
 * `npm run bench`: this project's job engine side by side with graphile-worker and pg-boss on
 * the same PostgreSQL server, against its own floor on SQLite, and the service as a process
 * against a bare Hono server. Prints a table and writes the same figures as JSON to
 * bench/results/latest.json. `--quick` runs tiny sizes (the test suite's smoke run).
 *
 * PostgreSQL figures, the peers among them, need DAVUS_BENCH_POSTGRES_URL (or
 * DAVUS_TEST_POSTGRES_URL): a URL whose user may create and drop databases; every measurement
 * gets a fresh `davus_bench_*` database on that server, dropped afterwards.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { checkStock } from "./check-stock.js";
import {
  crossProcessLatency,
  drainThroughput,
  enqueueThroughput,
  inlineFirstLatency,
  measureRuns,
  minimalSqliteLoop,
  rawSqliteLoop,
} from "./engine-bench.js";
import { type BenchDatabase, freshPostgres, freshSqlite, median } from "./harness.js";
import { type HttpSizes, httpBench } from "./http-startup.js";

/** One figure. `ratios` set this project's figure against this row's, as ours ÷ this. */
export interface Row {
  section: string;
  measure: string;
  value: number;
  unit: string;
  ratios?: Ratio[];
  target?: string;
  note?: string;
  /** Every run's value, in the order measured, where `value` is their median. */
  runs?: number[];
}

export interface Ratio {
  /** Which figure of this project is divided by this row's value. */
  ours: string;
  value: number;
}

export interface BenchReport {
  machine: string;
  node: string;
  postgres: string | null;
  date: string;
  quick: boolean;
  wallSeconds: number;
  /** The machine's 1-minute load average at the start and at the end: other work skews figures. */
  loadAverage: { start: number; end: number };
  rows: Row[];
  /** Sections that failed, with the error; the other sections still ran. */
  errors: string[];
  /** Sections not run, and why. */
  skipped: string[];
}

export interface Sizes {
  drainJobs: number;
  enqueueOne: number;
  enqueueBatch: number;
  latencyJobs: number;
  runs: number;
  products: number;
  lowProducts: number;
  http: HttpSizes;
}

const FULL: Sizes = {
  drainJobs: 20_000,
  enqueueOne: 2_000,
  enqueueBatch: 20_000,
  latencyJobs: 1_000,
  runs: 3,
  products: 100_000,
  lowProducts: 1_000,
  http: { starts: 5, jobs: 10_000, loadSeconds: 5, connections: 10, idleMs: 2_000 },
};
const QUICK: Sizes = {
  drainJobs: 200,
  enqueueOne: 50,
  enqueueBatch: 200,
  latencyJobs: 30,
  runs: 1,
  products: 2_000,
  lowProducts: 20,
  http: { starts: 1, jobs: 200, loadSeconds: 1, connections: 10, idleMs: 200 },
};

const CONCURRENCIES = [8, 24];

type Peers = {
  graphile: typeof import("./peers/graphile-worker.js");
  boss: typeof import("./peers/pg-boss.js");
};

export async function runBench(options: {
  quick: boolean;
  postgresUrl: string | undefined;
  log?: (line: string) => void;
  /** Leave out the HTTP and start-up section (it builds and starts the service). */
  skipHttp?: boolean;
}): Promise<BenchReport> {
  const begun = performance.now();
  const loadAtStart = os.loadavg()[0] ?? 0;
  const sizes = options.quick ? QUICK : FULL;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const rows: Row[] = [];
  const errors: string[] = [];
  const skipped: string[] = [];
  const section = async (name: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      log(`${name} failed: ${message}`);
      errors.push(`${name}: ${message.split("\n")[0]}`);
    }
  };

  await section("SQLite", () => sqliteSection(sizes, rows, log));

  const url = options.postgresUrl;
  let postgres: string | null = null;
  if (url) {
    postgres = await postgresVersion(url);
    const peers = await loadPeers(skipped);
    await section("PostgreSQL drain", () => postgresDrain(url, sizes, peers, rows, log));
    await section("PostgreSQL enqueue", () => postgresEnqueue(url, sizes, peers, rows, log));
    await section("PostgreSQL latency", () => postgresLatency(url, sizes, peers, rows, log));
  } else {
    skipped.push(
      "PostgreSQL and the peers: set DAVUS_BENCH_POSTGRES_URL (or DAVUS_TEST_POSTGRES_URL)",
    );
    log("PostgreSQL figures skipped: set DAVUS_BENCH_POSTGRES_URL (or DAVUS_TEST_POSTGRES_URL).");
  }

  await section("check-stock", () => checkStockSection(url, sizes, rows, log));
  if (options.skipHttp) skipped.push("HTTP and start-up: left out by the caller");
  else await section("HTTP", () => httpSection(sizes, options.quick, rows, log));

  const cpus = os.cpus();
  return {
    machine: `${cpus.length} x ${cpus[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}`,
    node: process.version,
    postgres,
    date: new Date().toISOString(),
    quick: options.quick,
    wallSeconds: (performance.now() - begun) / 1000,
    loadAverage: { start: loadAtStart, end: os.loadavg()[0] ?? 0 },
    rows,
    errors,
    skipped,
  };
}

async function sqliteSection(sizes: Sizes, rows: Row[], log: (line: string) => void) {
  const drained: Record<number, number> = {};
  for (const concurrency of CONCURRENCIES) {
    log(`SQLite: drain ${sizes.drainJobs} no-op jobs at concurrency ${concurrency} ...`);
    const runs = await measureRuns(sizes.runs, freshSqlite, (target) =>
      drainThroughput(target, sizes.drainJobs, concurrency),
    );
    drained[concurrency] = median(runs);
    rows.push({
      section: "drain, SQLite",
      measure: `davus, concurrency ${concurrency}`,
      value: median(runs),
      unit: "jobs/s",
      runs,
    });
  }

  // A raw loop's jobs per second, set against this project's drain at each concurrency.
  const loopRow = async (
    measure: string,
    loop: (count: number) => Promise<number>,
    extra: Pick<Row, "target"> | Pick<Row, "note">,
  ) => {
    const runs = await measureRuns(sizes.runs, freshSqlite, () => loop(sizes.drainJobs));
    const value = median(runs);
    rows.push({
      section: "drain, SQLite",
      measure,
      value,
      unit: "jobs/s",
      runs,
      ratios: CONCURRENCIES.map((c) => ({
        ours: `davus c${c}`,
        value: (drained[c] as number) / value,
      })),
      ...extra,
    });
  };
  log(`SQLite: raw better-sqlite3 loop over ${sizes.drainJobs} jobs ...`);
  await loopRow("raw better-sqlite3 loop, same schema and statements", rawSqliteLoop, {
    target: "davus ÷ raw >= 0.5",
  });
  log(`SQLite: minimal-table loop over ${sizes.drainJobs} jobs ...`);
  await loopRow("for scale: raw loop on a minimal table (one index)", minimalSqliteLoop, {
    note: "no lease index, no run-history index, fewer columns: what the schema itself costs",
  });

  log("SQLite: enqueue ...");
  const enqueue = await enqueueRuns(sizes, freshSqlite, (target) =>
    enqueueThroughput(target, sizes.enqueueOne, sizes.enqueueBatch),
  );
  rows.push(
    {
      section: "enqueue, SQLite",
      measure: "davus, one at a time",
      value: enqueue.one,
      unit: "jobs/s",
    },
    {
      section: "enqueue, SQLite",
      measure: "davus, batches of 500",
      value: enqueue.batch,
      unit: "jobs/s",
    },
  );

  log("SQLite: commit to handler start ...");
  const latency = await latencyRuns(sizes, freshSqlite, (target) =>
    inlineFirstLatency(target, sizes.latencyJobs),
  );
  rows.push(
    {
      section: "commit to start, SQLite",
      measure: "davus inline-first, p50",
      value: latency.p50,
      unit: "ms",
      target: "< 1 ms",
    },
    {
      section: "commit to start, SQLite",
      measure: "davus inline-first, p99",
      value: latency.p99,
      unit: "ms",
    },
  );
}

async function postgresDrain(
  url: string,
  sizes: Sizes,
  peers: Peers | undefined,
  rows: Row[],
  log: (line: string) => void,
) {
  const fresh = () => freshPostgres(url);
  for (const concurrency of CONCURRENCIES) {
    const contenders: {
      measure: string;
      note?: string;
      target?: string;
      run: (t: BenchDatabase) => Promise<number>;
    }[] = [{ measure: "davus", run: (t) => drainThroughput(t, sizes.drainJobs, concurrency) }];
    if (peers) {
      const { graphile, boss } = peers;
      contenders.push(
        {
          measure: "graphile-worker, defaults",
          note: graphile.describeMode("defaults", concurrency),
          run: (t) => graphile.graphileDrain(t, sizes.drainJobs, concurrency, "defaults"),
        },
        {
          measure: "graphile-worker, batched",
          note: graphile.describeMode("batched", concurrency),
          target: "davus ÷ this >= 1",
          run: (t) => graphile.graphileDrain(t, sizes.drainJobs, concurrency, "batched"),
        },
        {
          measure: "pg-boss, batched",
          note: boss.describeMode("batched", concurrency),
          target: "davus ÷ this >= 2",
          run: (t) => boss.bossDrain(t, sizes.drainJobs, concurrency, "batched"),
        },
      );
      // One job per fetch is pg-boss's slow mode (about 15 s a run here): measured at 24 only.
      if (concurrency === 24) {
        contenders.push({
          measure: "pg-boss, per job",
          note: boss.describeMode("per job", concurrency),
          run: (t) => boss.bossDrain(t, sizes.drainJobs, concurrency, "per job"),
        });
      }
    }

    // Runs interleave the systems, so that a slow minute of the machine hits all alike.
    const values = contenders.map(() => [] as number[]);
    for (let run = 0; run < sizes.runs; run++) {
      for (const [index, contender] of contenders.entries()) {
        log(
          `PostgreSQL: drain ${sizes.drainJobs} at concurrency ${concurrency}, ${contender.measure} (run ${run + 1}) ...`,
        );
        const target = await fresh();
        try {
          values[index]?.push(await contender.run(target));
        } finally {
          await target.drop();
        }
      }
    }
    const ours = median(values[0] ?? []);
    for (const [index, contender] of contenders.entries()) {
      const value = median(values[index] ?? []);
      rows.push({
        section: `drain, PostgreSQL, concurrency ${concurrency}`,
        measure: contender.measure,
        value,
        unit: "jobs/s",
        runs: values[index] ?? [],
        ...(index > 0 ? { ratios: [{ ours: "davus", value: ours / value }] } : {}),
        ...(contender.target ? { target: contender.target } : {}),
        ...(contender.note ? { note: contender.note } : {}),
      });
    }
  }
}

/** The call each system was measured with, one at a time and in batches. */
const ENQUEUE_CALLS: Record<string, { one: string; batch: string }> = {
  davus: {
    one: "enqueue(), its own commit each",
    batch: "enqueueMany() of all; it stores 500 a statement",
  },
  "graphile-worker": { one: "addJob()", batch: "addJobs() of 500" },
  "pg-boss": { one: "send()", batch: "insert() of 500" },
};

async function postgresEnqueue(
  url: string,
  sizes: Sizes,
  peers: Peers | undefined,
  rows: Row[],
  log: (line: string) => void,
) {
  const fresh = () => freshPostgres(url);
  const systems: {
    name: string;
    run: (t: BenchDatabase) => Promise<{ one: number; batch: number }>;
  }[] = [{ name: "davus", run: (t) => enqueueThroughput(t, sizes.enqueueOne, sizes.enqueueBatch) }];
  if (peers) {
    systems.push(
      {
        name: "graphile-worker",
        run: (t) => peers.graphile.graphileEnqueue(t, sizes.enqueueOne, sizes.enqueueBatch),
      },
      {
        name: "pg-boss",
        run: (t) => peers.boss.bossEnqueue(t, sizes.enqueueOne, sizes.enqueueBatch),
      },
    );
  }
  const results: { one: number; batch: number }[] = [];
  for (const system of systems) {
    log(`PostgreSQL: enqueue, ${system.name} ...`);
    results.push(await enqueueRuns(sizes, fresh, system.run));
  }
  const ours = results[0] as { one: number; batch: number };
  for (const kind of ["one", "batch"] as const) {
    for (const [index, system] of systems.entries()) {
      const value = (results[index] as { one: number; batch: number })[kind];
      rows.push({
        section: "enqueue, PostgreSQL",
        measure: `${system.name}, ${kind === "one" ? `one at a time (${sizes.enqueueOne})` : `batches of 500 (${sizes.enqueueBatch})`}`,
        value,
        unit: "jobs/s",
        ...(index > 0 ? { ratios: [{ ours: "davus", value: ours[kind] / value }] } : {}),
        note: ENQUEUE_CALLS[system.name]?.[kind] ?? "",
      });
    }
  }
}

async function postgresLatency(
  url: string,
  sizes: Sizes,
  peers: Peers | undefined,
  rows: Row[],
  log: (line: string) => void,
) {
  const fresh = () => freshPostgres(url);
  const section = `enqueue to start, PostgreSQL, concurrency 1, ${sizes.latencyJobs.toLocaleString("en-US")} jobs`;

  log("PostgreSQL: commit to handler start, inline-first ...");
  const inline = await latencyRuns(sizes, fresh, (t) => inlineFirstLatency(t, sizes.latencyJobs));
  log("PostgreSQL: commit to handler start, another process ...");
  const crossRuns: Awaited<ReturnType<typeof crossProcessLatency>>[] = [];
  const cross = await latencyRuns(sizes, fresh, async (t) => {
    const measured = await crossProcessLatency(t, sizes.latencyJobs);
    crossRuns.push(measured);
    return measured;
  });
  const wakeUp = crossRuns[0]?.wakeUp ?? "?";
  const offsets = crossRuns.map(
    (r) => `${r.clockOffsetMs.toFixed(3)} ± ${(r.roundTripMs / 2).toFixed(3)} ms`,
  );

  rows.push(
    {
      section,
      measure: "davus inline-first, p50",
      value: inline.p50,
      unit: "ms",
      target: "< 1 ms",
      note: "same process: enqueue's commit to handler start",
    },
    { section, measure: "davus inline-first, p99", value: inline.p99, unit: "ms" },
    {
      section,
      measure: "davus cross-process, p50",
      value: cross.p50,
      unit: "ms",
      note: `process A enqueues, process B (an engine on the same database) runs; B woken by ${wakeUp === "notify" ? "LISTEN/NOTIFY (engine.start())" : "a loop of drains 1 ms apart (no LISTEN support found)"}; clock offset B − A removed: ${offsets.join(", ")}`,
    },
    { section, measure: "davus cross-process, p99", value: cross.p99, unit: "ms" },
  );
  if (!peers) return;

  log("PostgreSQL: enqueue to handler start, graphile-worker ...");
  const graphile = await latencyRuns(sizes, fresh, (t) =>
    peers.graphile.graphileLatency(t, sizes.latencyJobs),
  );
  log("PostgreSQL: enqueue to handler start, graphile-worker in another process ...");
  const graphileCross = await latencyRuns(sizes, fresh, (t) =>
    peers.graphile.graphileCrossProcessLatency(t, sizes.latencyJobs),
  );
  log("PostgreSQL: enqueue to handler start, pg-boss ...");
  const boss = await latencyRuns(sizes, fresh, (t) => peers.boss.bossLatency(t, sizes.latencyJobs));
  const against = (
    p: "p50" | "p99",
    peer: { p50: number; p99: number },
    ours: ("inline-first" | "cross-process")[],
  ): Ratio[] =>
    ours.map((name) => ({
      ours: name,
      value: (name === "inline-first" ? inline : cross)[p] / peer[p],
    }));
  rows.push(
    {
      section,
      measure: "graphile-worker, same process, p50",
      value: graphile.p50,
      unit: "ms",
      ratios: against("p50", graphile, ["inline-first"]),
      target: "inline-first ÷ this < 0.25",
      note: "defaults (LISTEN/NOTIFY), concurrentJobs 1; addJob() in the runner's process; addJob's return to task start",
    },
    {
      section,
      measure: "graphile-worker, same process, p99",
      value: graphile.p99,
      unit: "ms",
      ratios: against("p99", graphile, ["inline-first"]),
    },
    {
      section,
      measure: "graphile-worker, cross-process, p50",
      value: graphileCross.p50,
      unit: "ms",
      ratios: against("p50", graphileCross, ["cross-process"]),
      note: "addJob() in process A, the runner (defaults, concurrentJobs 1) in process B, timed as davus cross-process",
    },
    {
      section,
      measure: "graphile-worker, cross-process, p99",
      value: graphileCross.p99,
      unit: "ms",
      ratios: against("p99", graphileCross, ["cross-process"]),
    },
    {
      section,
      measure: "pg-boss, same process, p50",
      value: boss.p50,
      unit: "ms",
      ratios: against("p50", boss, ["inline-first", "cross-process"]),
      note: "useListenNotify + queue notify, batchSize 1, localConcurrency 1; send() in the worker's process",
    },
    {
      section,
      measure: "pg-boss, same process, p99",
      value: boss.p99,
      unit: "ms",
      ratios: against("p99", boss, ["inline-first", "cross-process"]),
    },
  );
}

async function checkStockSection(
  url: string | undefined,
  sizes: Sizes,
  rows: Row[],
  log: (line: string) => void,
) {
  const engines: { name: string; fresh: () => Promise<BenchDatabase> }[] = [
    { name: "SQLite", fresh: freshSqlite },
  ];
  if (url) engines.push({ name: "PostgreSQL", fresh: () => freshPostgres(url) });
  const section = `check-stock, ${sizes.products.toLocaleString("en-US")} products, ${sizes.lowProducts.toLocaleString("en-US")} low`;
  for (const engine of engines) {
    log(`${engine.name}: check-stock over ${sizes.products} products ...`);
    const target = await engine.fresh();
    try {
      const figures = await checkStock(target, sizes.products, sizes.lowProducts, sizes.runs);
      rows.push(
        {
          section,
          measure: `${engine.name}, time`,
          value: figures.ms,
          unit: "ms",
          target: "< 1,000 ms",
          note: "runLowStockCheck(), one recipient: query, digest, enqueue, send (console mailer)",
        },
        {
          section,
          measure: `${engine.name}, SQL statements`,
          value: figures.statements,
          unit: "statements",
          note: `each statement sent, through Kysely or (SQLite) the engine's prepared statements; BEGIN/COMMIT not counted; the audit line adds ${figures.afterwards} after the answer`,
        },
      );
    } finally {
      await target.drop();
    }
  }
}

async function httpSection(sizes: Sizes, quick: boolean, rows: Row[], log: (line: string) => void) {
  const figures = await httpBench(sizes.http, { quick, log });
  const section = "service process";
  const jobs = sizes.http.jobs.toLocaleString("en-US");
  const load = `${sizes.http.loadSeconds} s, ${sizes.http.connections} connections`;
  rows.push(
    {
      section,
      measure: "start to first 200, bare Hono",
      value: figures.startupMs.hono,
      unit: "ms",
      ratios: [{ ours: "davus", value: figures.startupMs.service / figures.startupMs.hono }],
      target: "davus ÷ this <= 1.3",
      note: `spawn to the first 200 (polled every ms), median of ${sizes.http.starts} starts after one unmeasured; davus ${figures.entry} on an existing SQLite file`,
    },
    { section, measure: "start to first 200, davus", value: figures.startupMs.service, unit: "ms" },
    {
      section,
      measure: "start-up CPU, bare Hono",
      value: figures.startupCpuMs.hono,
      unit: "ms",
      ratios: [{ ours: "davus", value: figures.startupCpuMs.service / figures.startupCpuMs.hono }],
      note: "user + system time from /proc/PID/stat at the first 200 (10 ms steps)",
    },
    { section, measure: "start-up CPU, davus", value: figures.startupCpuMs.service, unit: "ms" },
    {
      section,
      measure: "RSS idle, bare Hono",
      value: figures.idleRssMb.hono,
      unit: "MB",
      ratios: [{ ours: "davus", value: figures.idleRssMb.service / figures.idleRssMb.hono }],
      note: `VmRSS ${sizes.http.idleMs} ms after start`,
    },
    {
      section,
      measure: "RSS idle, davus",
      value: figures.idleRssMb.service,
      unit: "MB",
      target: "< 60 MB",
    },
    {
      section,
      measure: `RSS after ${jobs} jobs, davus`,
      value: figures.rssAfterJobsMb,
      unit: "MB",
      target: "< 120 MB",
      note: `${jobs} mail.send jobs (console backend) enqueued from another process, run through POST tick`,
    },
    {
      section,
      measure: "GET / req/s, bare Hono",
      value: figures.requestsPerSecond.hono,
      unit: "req/s",
      ratios: [
        {
          ours: "GET /health/",
          value: figures.requestsPerSecond.health / figures.requestsPerSecond.hono,
        },
        { ours: "tick", value: figures.requestsPerSecond.tick / figures.requestsPerSecond.hono },
      ],
      note: `autocannon, ${load}, in the benchmark's process`,
    },
    {
      section,
      measure: "GET /health/ req/s, davus",
      value: figures.requestsPerSecond.health,
      unit: "req/s",
    },
    {
      section,
      measure: "POST tick, nothing due, req/s, davus",
      value: figures.requestsPerSecond.tick,
      unit: "req/s",
      note: "with the Api-Key header",
    },
  );
}

async function enqueueRuns(
  sizes: Sizes,
  fresh: () => Promise<BenchDatabase>,
  measure: (target: BenchDatabase) => Promise<{ one: number; batch: number }>,
): Promise<{ one: number; batch: number }> {
  const runs = await measureRuns(sizes.runs, fresh, measure);
  return { one: median(runs.map((r) => r.one)), batch: median(runs.map((r) => r.batch)) };
}

async function latencyRuns(
  sizes: Sizes,
  fresh: () => Promise<BenchDatabase>,
  measure: (target: BenchDatabase) => Promise<{ p50: number; p99: number }>,
): Promise<{ p50: number; p99: number }> {
  const runs = await measureRuns(sizes.runs, fresh, measure);
  return { p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)) };
}

/** The peers, when installed; a run without them still measures this project. */
async function loadPeers(skipped: string[]): Promise<Peers | undefined> {
  try {
    return {
      graphile: await import("./peers/graphile-worker.js"),
      boss: await import("./peers/pg-boss.js"),
    };
  } catch (error) {
    skipped.push(`graphile-worker and pg-boss: not installed (${String(error).split("\n")[0]})`);
    return undefined;
  }
}

async function postgresVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>("show server_version");
    return `PostgreSQL ${rows[0]?.server_version ?? "?"}`;
  } finally {
    await client.end();
  }
}

export function formatTable(report: BenchReport): string {
  const lines = [
    "| section | measure | value | unit | ours ÷ this | target |",
    "| --- | --- | ---: | --- | --- | --- |",
    ...report.rows.map((row) => {
      const ratios = (row.ratios ?? [])
        .map((ratio) => `${ratio.ours}: ${formatNumber(ratio.value, "ratio")}`)
        .join("; ");
      return `| ${row.section} | ${row.measure} | ${formatNumber(row.value, row.unit)} | ${row.unit} | ${ratios} | ${row.target ?? ""} |`;
    }),
  ];
  return lines.join("\n");
}

/** The notes of the rows that have one, as a list to print under the table. */
export function formatNotes(report: BenchReport): string {
  return report.rows
    .filter((row) => row.note || (row.runs && row.runs.length > 1))
    .map((row) => {
      const runs =
        row.runs && row.runs.length > 1
          ? `runs ${row.runs.map((v) => formatNumber(v, row.unit)).join(", ")}`
          : "";
      return `- ${row.section} / ${row.measure}: ${[row.note, runs].filter(Boolean).join("; ")}`;
    })
    .join("\n");
}

function formatNumber(value: number, unit: string): string {
  if (unit === "ms" || unit === "ratio" || unit === "MB") {
    return value.toFixed(value < 10 ? 2 : 1);
  }
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
  const out = path.resolve("bench/results/latest.json");
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(
    [
      "",
      `Machine: ${report.machine}; Node ${report.node}; ${report.postgres ?? "no PostgreSQL"}; ${report.date}`,
      `Command: npm run bench${quick ? " -- --quick" : ""}; ${report.wallSeconds.toFixed(0)} s; load average ${report.loadAverage.start.toFixed(2)} at the start, ${report.loadAverage.end.toFixed(2)} at the end`,
      "",
      formatTable(report),
      "",
      "Notes:",
      formatNotes(report),
      ...(report.skipped.length > 0
        ? ["", "Skipped:", ...report.skipped.map((s) => `- ${s}`)]
        : []),
      ...(report.errors.length > 0 ? ["", "FAILED:", ...report.errors.map((e) => `- ${e}`)] : []),
      "",
      `Written to ${path.relative(process.cwd(), out)}`,
      "",
    ].join("\n"),
  );
  if (report.errors.length > 0) process.exitCode = 1;
}
