/**
 * The service as a process, set against a bare Hono hello world (bench/hello-hono.mjs) started
 * the same way: time from spawn to the first 200, the CPU time that took, resident memory idle
 * and after draining many jobs, and requests per second under autocannon.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { systemClock } from "../src/clock.js";
import { openDatabase } from "../src/db/database.js";
import { JobEngine } from "../src/jobs/engine.js";
import { createLogger } from "../src/logger.js";
import type { Mailer } from "../src/mail/mailer.js";
import { createSendMailTask } from "../src/mail/send-mail-task.js";
import { median } from "./harness.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface HttpSizes {
  /** Measured starts of each server, after one unmeasured start of each. */
  starts: number;
  /** Jobs drained before the second memory reading. */
  jobs: number;
  /** How long autocannon loads each route, in seconds. */
  loadSeconds: number;
  connections: number;
  idleMs: number;
}

export interface HttpFigures {
  /** How the service was started: `node dist/main.js`, or from the sources for --quick. */
  entry: string;
  startupMs: { service: number; hono: number };
  startupCpuMs: { service: number; hono: number };
  idleRssMb: { service: number; hono: number };
  rssAfterJobsMb: number;
  requestsPerSecond: { health: number; tick: number; hono: number };
}

interface Server {
  child: ChildProcess;
  url: string;
  /** From spawn to the first 200, in milliseconds. */
  startupMs: number;
  /** User and system CPU time the process had used by then, in milliseconds. */
  startupCpuMs: number;
  stop(): Promise<void>;
}

/**
 * Build the service (`npm run build`) unless `quick`, then measure. The service runs on a
 * SQLite file of its own, with its logger silent and e-mail printed to a stdout that goes
 * nowhere.
 */
export async function httpBench(
  sizes: HttpSizes,
  options: { quick: boolean; log: (line: string) => void },
): Promise<HttpFigures> {
  let entry: string[];
  if (options.quick) {
    entry = ["--import", "tsx", "src/main.ts"];
  } else {
    options.log("http: npm run build ...");
    const built = spawnSync("npm", ["run", "build", "--silent"], { cwd: ROOT, encoding: "utf8" });
    if (built.status !== 0)
      throw new Error(`npm run build failed:\n${built.stdout}${built.stderr}`);
    entry = ["dist/main.js"];
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "davus-bench-http-"));
  const file = path.join(dir, "service.sqlite");
  const apiKey = randomBytes(24).toString("hex");
  const serviceEnv = {
    DATABASE_URL: `sqlite:${file}`,
    CRON_API_KEY: apiKey,
    EMAIL_BACKEND: "console",
    LOG_LEVEL: "silent",
    HOST: "127.0.0.1",
  };
  const startService = () => startServer(entry, serviceEnv, "/health/");
  const startHono = () => startServer([path.join("bench", "hello-hono.mjs")], {}, "/");

  try {
    // One start of each unmeasured: the first creates the database, and loads files to cache.
    await (await startService()).stop();
    await (await startHono()).stop();

    const service: Server[] = [];
    const hono: Server[] = [];
    for (let run = 0; run < sizes.starts; run++) {
      options.log(`http: start ${run + 1} of ${sizes.starts} ...`);
      const s = await startService();
      await s.stop();
      service.push(s);
      const h = await startHono();
      await h.stop();
      hono.push(h);
    }

    const bare = await startHono();
    let honoIdleRss: number;
    let honoRate: number;
    try {
      await sleep(sizes.idleMs);
      honoIdleRss = rssMb(bare.child);
      honoRate = await load(sizes, { url: `${bare.url}/` });
    } finally {
      await bare.stop();
    }

    const running = await startService();
    try {
      await sleep(sizes.idleMs);
      const idleRss = rssMb(running.child);

      options.log(`http: ${sizes.jobs} jobs through the service ...`);
      await enqueueMail(file, sizes.jobs);
      await tickUntilDrained(running.url, apiKey, file);
      const afterJobsRss = rssMb(running.child);

      options.log("http: autocannon ...");
      const health = await load(sizes, { url: `${running.url}/health/` });
      const tick = await load(sizes, {
        url: `${running.url}/api/v1/jobs/tick/`,
        method: "POST",
        headers: { authorization: `Api-Key ${apiKey}` },
      });
      return {
        entry: `node ${entry.join(" ")}`,
        startupMs: {
          service: median(service.map((s) => s.startupMs)),
          hono: median(hono.map((h) => h.startupMs)),
        },
        startupCpuMs: {
          service: median(service.map((s) => s.startupCpuMs)),
          hono: median(hono.map((h) => h.startupCpuMs)),
        },
        idleRssMb: { service: idleRss, hono: honoIdleRss },
        rssAfterJobsMb: afterJobsRss,
        requestsPerSecond: { health, tick, hono: honoRate },
      };
    } finally {
      await running.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Spawn `node ...args` on a free port and poll `probe` until it answers 200. */
async function startServer(
  args: string[],
  env: Record<string, string>,
  probe: string,
): Promise<Server> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: "127.0.0.1" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(killer);
  };

  try {
    for (;;) {
      if (child.exitCode !== null) {
        throw new Error(`node ${args.join(" ")} exited with ${child.exitCode}: ${stderr}`);
      }
      if ((await status(`${url}${probe}`)) === 200) break;
      if (performance.now() - started > 30_000) throw new Error(`${url}${probe} never answered`);
      await sleep(1);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const startupMs = performance.now() - started;
  return { child, url, startupMs, startupCpuMs: cpuMs(child), stop };
}

/** The status of a GET, or 0 when the connection fails (not listening yet). */
function status(url: string): Promise<number> {
  return new Promise((resolve) => {
    const request = http.get(url, { agent: false }, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode ?? 0));
    });
    request.on("error", () => resolve(0));
  });
}

/** A port free on the loopback now: bind to port 0, read the port, close. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const CLOCK_TICKS =
  Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout?.trim()) || 100;

/** User plus system CPU time of a child, from /proc (in clock ticks: 10 ms steps). */
function cpuMs(child: ChildProcess): number {
  const stat = fs.readFileSync(`/proc/${child.pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS;
}

function rssMb(child: ChildProcess): number {
  const status = fs.readFileSync(`/proc/${child.pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  return kb / 1024;
}

/** Requests per second over the load, all of which must answer 2xx. */
async function load(
  sizes: HttpSizes,
  request: { url: string; method?: "GET" | "POST"; headers?: Record<string, string> },
): Promise<number> {
  const result = await autocannon({
    ...request,
    connections: sizes.connections,
    duration: sizes.loadSeconds,
  });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(
      `${request.url}: ${result.non2xx} answers other than 2xx and ${result.errors} errors`,
    );
  }
  return result.requests.total / result.duration;
}

/** Store `count` e-mails as durable jobs in the service's database, from this process. */
async function enqueueMail(file: string, count: number): Promise<void> {
  const database = openDatabase({ engine: "sqlite", path: file, url: `sqlite:${file}` });
  const unused: Mailer = {
    backend: "console",
    send: () => Promise.reject(new Error("this process only enqueues")),
    close: async () => {},
  };
  const jobs = new JobEngine({
    database,
    logger: createLogger("silent"),
    clock: systemClock,
    tasks: [createSendMailTask(unused)],
    timerMs: 0,
  });
  try {
    const run = randomBytes(4).toString("hex");
    await jobs.enqueueMany(
      "mail.send",
      Array.from({ length: count }, (_, n) => ({
        to: "bench@example.com",
        subject: `Benchmark message ${n}`,
        text: `Message ${n} of ${count}.`,
        messageKey: `bench:${run}:${n}`,
      })),
    );
  } finally {
    await jobs.stop(1_000);
    await database.close();
  }
}

/**
 * POST ticks until every job is done. The service's own timer may run some of them between two
 * ticks, so the count is read from the database, not added up from the answers.
 */
async function tickUntilDrained(url: string, apiKey: string, file: string): Promise<void> {
  const database = openDatabase({ engine: "sqlite", path: file, url: `sqlite:${file}` });
  try {
    for (let tick = 0; tick < 1_000; tick++) {
      const response = await fetch(`${url}/api/v1/jobs/tick/`, {
        method: "POST",
        headers: { authorization: `Api-Key ${apiKey}` },
      });
      if (!response.ok) {
        throw new Error(`tick answered ${response.status}: ${await response.text()}`);
      }
      const body = (await response.json()) as { remaining: number };
      if (body.remaining > 0) continue;
      const left = await database.db
        .selectFrom("jobs")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .where("status", "!=", "succeeded")
        .executeTakeFirstOrThrow();
      if (Number(left.n) === 0) return;
      await sleep(20);
    }
    throw new Error("the service did not finish its jobs within 1,000 ticks");
  } finally {
    await database.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
