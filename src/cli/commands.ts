import fs from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { recordAudit } from "../audit/audit-log.js";
import { loadConfig } from "../config.js";
import { migrate } from "../db/migrations.js";
import { AppError } from "../errors.js";
import { decodeCsv, formatIssue, importProducts } from "../inventory/import-products.js";
import { runLowStockCheck } from "../inventory/low-stock.js";
import { createLogger } from "../logger.js";
import { connectDatabase, openRuntime, type Runtime, SERVICE_SCHEDULES } from "../runtime.js";
import { describeCost, generateWorkflows } from "../schedules/workflow.js";
import { serveUntilSignalled } from "../serve.js";
import { runDemo } from "./demo.js";

/** Problems printed for one CSV file; a file bad throughout would otherwise flood the terminal. */
const ISSUES_SHOWN = 100;

const USAGE = `davus: background work for the Davus backend

Usage:
  davus serve                          serve HTTP (the default; same as npm start)
  davus migrate                        bring the database schema up to date
  davus products import FILE.csv       upsert products by SKU (all or nothing)
        [--partial]                    import the good records, report the bad ones
  davus check-stock                    run the low-stock check now and send the digests
  davus drain [--budget SECONDS]       run due jobs until none is left or the budget is spent
  davus jobs retry ID                  put a dead job back in the queue
  davus workflow generate              write .github/workflows/*.yml from the schedules
        [--dir DIR] [--check]          elsewhere; or only check that they are up to date
  davus demo                           the demo (npm run demo)

Configuration comes from the environment; see .env.example.`;

type Print = (line: string) => void;

export async function runCli(
  argv: string[],
  print: Print = (line) => process.stdout.write(`${line}\n`),
): Promise<number> {
  const [command = "serve", ...rest] = argv;
  if (command === "help" || command === "--help" || command === "-h") {
    print(USAGE);
    return 0;
  }
  if (command === "serve") {
    await serveUntilSignalled();
    return -1;
  }
  if (command === "demo") return runDemo();

  if (command === "workflow" && rest[0] === "generate")
    return generateWorkflowFiles(rest.slice(1), print);

  const config = loadConfig();
  if (command === "migrate") {
    const database = await connectDatabase(config);
    try {
      const result = await migrate(database);
      print(
        result.applied.length > 0
          ? `Applied ${result.applied.join(", ")} to ${database.label}.`
          : `${database.label} is up to date (${result.current}).`,
      );
      return 0;
    } finally {
      await database.close();
    }
  }

  // The command's own lines go to stdout; log lines to stderr, so the two do not mix.
  const logger = createLogger(config.logLevel, pino.destination(2));
  const runtime = await openRuntime({ config, logger, jobs: { timerMs: 0 } });
  try {
    return await runCommand(runtime, command, rest, print);
  } finally {
    await runtime.close(5_000);
  }
}

async function runCommand(
  runtime: Runtime,
  command: string,
  args: string[],
  print: Print,
): Promise<number> {
  const { jobs, clock, config, database } = runtime;

  if (command === "products" && args[0] === "import") {
    const { values, positionals } = parseArgs({
      args: args.slice(1),
      options: { partial: { type: "boolean" } },
      allowPositionals: true,
    });
    const file = positionals[0];
    if (!file) throw new AppError("usage", "Name the CSV file: davus products import FILE.csv");
    const bytes = await fs.readFile(file).catch((error: NodeJS.ErrnoException) => {
      throw new AppError(
        "file_unreadable",
        `Cannot read ${file}: ${error.code === "ENOENT" ? "no such file" : error.message}.`,
      );
    });
    const decoded = decodeCsv(bytes);
    if ("issue" in decoded) {
      print(`${file}: ${formatIssue(decoded.issue)}`);
      print(`${file}: nothing was imported.`);
      return 1;
    }
    const csv = decoded.text;
    const result = await importProducts(database.db, csv, {
      clock,
      partial: values.partial === true,
    });
    for (const issue of result.issues.slice(0, ISSUES_SHOWN))
      print(`${file}: ${formatIssue(issue)}`);
    if (result.issues.length > ISSUES_SHOWN) {
      print(
        `${file}: ${result.issues.length - ISSUES_SHOWN} more problem(s) not shown; the first ${ISSUES_SHOWN} are above.`,
      );
    }
    if (!result.applied) {
      print(
        `${file}: ${result.issues.length} problem(s); nothing was imported. Fix them, or pass --partial to import the good records.`,
      );
      return 1;
    }
    recordAudit(jobs, "inventory.import-products", {
      file,
      rows: result.rows,
      inserted: result.inserted,
      updated: result.updated,
      skipped: result.skipped,
    });
    print(
      `${file}: ${result.inserted} inserted, ${result.updated} updated${result.skipped > 0 ? `, ${result.skipped} skipped` : ""}.`,
    );
    return result.skipped > 0 ? 1 : 0;
  }

  if (command === "check-stock") {
    const result = await runLowStockCheck({
      jobs,
      clock,
      recipients: config.lowStockAlertEmails,
      trigger: "cli",
    });
    print(
      `${result.lowProducts} low products; digests sent ${result.emailsSent}, already sent ${result.emailsAlreadySent}, pending ${result.emailsPending}, failed ${result.emailsFailed}.`,
    );
    for (const delivery of result.deliveries.filter((d) => d.error))
      print(`  ${delivery.to}: ${delivery.error}`);
    return result.emailsPending + result.emailsFailed > 0 ? 1 : 0;
  }

  if (command === "drain") {
    const { values } = parseArgs({ args, options: { budget: { type: "string" } } });
    const budgetSeconds = Number(values.budget ?? 25);
    if (!Number.isFinite(budgetSeconds) || budgetSeconds <= 0) {
      throw new AppError(
        "usage",
        `--budget expects a number of seconds above 0, got "${values.budget}".`,
      );
    }
    const result = await jobs.drain({ budgetMs: budgetSeconds * 1000, trigger: "cli" });
    const { counts } = result;
    // Jobs held by another process's lease are not due; say how many, and until when.
    const leased = await database.db
      .selectFrom("jobs")
      .select([
        (eb) => eb.fn.countAll<number>().as("count"),
        (eb) => eb.fn.max("locked_until").as("until"),
      ])
      .where("status", "=", "running")
      .executeTakeFirstOrThrow();
    const held =
      Number(leased.count) > 0
        ? `; ${leased.count} held by a lease until ${new Date(Number(leased.until)).toISOString()} at the latest (a process that died frees them then)`
        : "";
    print(
      `succeeded ${counts.succeeded}, failed ${counts.failed}, dead ${counts.dead}, remaining ${result.remaining}${held}.`,
    );
    return counts.failed + counts.dead > 0 ? 1 : 0;
  }

  if (command === "jobs" && args[0] === "retry") {
    const id = Number(args[1]);
    if (!Number.isInteger(id) || id <= 0)
      throw new AppError(
        "usage",
        `Name the job by its id: davus jobs retry ID (got "${args[1] ?? ""}").`,
      );
    const job = await jobs.retry(id);
    print(`Job ${job.id} (${job.task}) is queued again.`);
    return 0;
  }

  print(`davus: unknown command "${[command, ...args].join(" ")}"\n\n${USAGE}`);
  return 2;
}

async function generateWorkflowFiles(args: string[], print: Print): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { dir: { type: "string" }, check: { type: "boolean" } },
  });
  const dir = path.resolve(values.dir ?? ".github/workflows");
  const budgetSeconds = Math.round(loadConfig().jobs.tickBudgetMs / 1000);
  const workflows = generateWorkflows(SERVICE_SCHEDULES, { budgetSeconds });
  let stale = 0;
  for (const workflow of workflows) {
    const file = path.join(dir, workflow.file);
    const current = await fs.readFile(file, "utf8").catch(() => undefined);
    if (values.check) {
      if (current === undefined) {
        stale++;
        print(
          `${file} is missing: run davus workflow generate from the project's root (or pass --dir)`,
        );
      } else if (current !== workflow.content) {
        stale++;
        print(`${path.relative(process.cwd(), file)} is out of date: run davus workflow generate`);
      }
      continue;
    }
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(file, workflow.content);
    print(
      `${current === workflow.content ? "unchanged" : "wrote"} ${path.relative(process.cwd(), file)}`,
    );
  }
  for (const workflow of workflows)
    for (const warning of workflow.warnings) print(`warning: ${warning}`);
  for (const line of describeCost(workflows)) print(line);
  return stale > 0 ? 1 : 0;
}
