/**
 * The low-stock check over a large catalogue: how long `runLowStockCheck` takes (what the
 * `check-stock` endpoint waits for) and how many SQL statements it sends.
 *
 * Statements are counted by a Kysely plugin on the engine's database handle
 * (`db.withPlugin`), which sees every query built or written with `sql` through that handle:
 * the low-stock query and the digest's enqueue. On SQLite the engine runs its claims,
 * completions and counts straight on the connection (`Database.exclusive`); those are
 * counted as each prepared statement runs. Transaction control (BEGIN, COMMIT) is not
 * counted on either engine.
 */
import { Writable } from "node:stream";
import type SqliteDatabase from "better-sqlite3";
import { type KyselyPlugin, sql } from "kysely";
import { createAuditTask } from "../src/audit/audit-log.js";
import { systemClock } from "../src/clock.js";
import type { EmailConfig } from "../src/config.js";
import { type Database, openDatabase } from "../src/db/database.js";
import { migrate } from "../src/db/migrations.js";
import { runLowStockCheck } from "../src/inventory/low-stock.js";
import { JobEngine } from "../src/jobs/engine.js";
import { createLogger } from "../src/logger.js";
import { createMailer } from "../src/mail/mailer.js";
import { createSendMailTask } from "../src/mail/send-mail-task.js";
import { type BenchDatabase, median } from "./harness.js";

export interface CheckStockFigures {
  ms: number;
  /** Statements sent during one check (the median run's). */
  statements: number;
  /** Statements the audit line wrote after the check returned. */
  afterwards: number;
}

/** The statement, with each run, get, all or iterate counted as one statement sent. */
function countRuns(
  statement: SqliteDatabase.Statement,
  counter: StatementCounter,
): SqliteDatabase.Statement {
  return new Proxy(statement, {
    get(target, property) {
      const value = Reflect.get(target, property);
      if (typeof value !== "function") return value;
      if (
        property === "run" ||
        property === "get" ||
        property === "all" ||
        property === "iterate"
      ) {
        return (...args: unknown[]) => {
          counter.count++;
          return value.apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
}

/** Counts the statements that pass through the handle it is plugged into. */
class StatementCounter implements KyselyPlugin {
  count = 0;

  transformQuery: KyselyPlugin["transformQuery"] = (args) => args.node;

  transformResult: KyselyPlugin["transformResult"] = async (args) => {
    this.count++;
    return args.result;
  };
}

const RECIPIENT = "stock@example.com";

/**
 * `products` products, `low` of them at or below their minimum (spread evenly), the table
 * analysed as a table in use would be; then `runs` checks, each for a new day so that each
 * sends its digest (to one recipient, through the console mailer into nothing).
 */
export async function checkStock(
  target: BenchDatabase,
  products: number,
  low: number,
  runs: number,
): Promise<CheckStockFigures> {
  const database = openDatabase(target.config);
  try {
    await migrate(database);
    await insertProducts(database, products, low);
    await sql`analyze`.execute(database.db);

    const counter = new StatementCounter();
    const counted: Database = { ...database, db: database.db.withPlugin(counter) };
    // The engine's busiest SQLite statements go straight to the connection (`exclusive`),
    // past the plugin: count each run of them too.
    const exclusive = database.exclusive;
    if (exclusive) {
      counted.exclusive = (work) =>
        exclusive((connection) =>
          work({
            ...connection,
            prepare: (text) => countRuns(connection.prepare(text), counter),
          }),
        );
    }
    const mailer = createMailer({
      config: consoleEmail,
      logger: createLogger("silent"),
      consoleOut: new Writable({ write: (_chunk, _encoding, done) => done() }),
    });
    const jobs = new JobEngine({
      database: counted,
      logger: createLogger("silent"),
      clock: systemClock,
      tasks: [createSendMailTask(mailer), createAuditTask(systemClock)],
      timerMs: 0,
    });

    const samples: { ms: number; statements: number; afterwards: number }[] = [];
    try {
      for (let run = 0; run < runs; run++) {
        counter.count = 0;
        const started = performance.now();
        const result = await runLowStockCheck({
          jobs,
          clock: systemClock,
          recipients: [RECIPIENT],
          period: `2030-01-${String(run + 1).padStart(2, "0")}`,
        });
        const ms = performance.now() - started;
        const statements = counter.count;
        if (result.lowProducts !== low || result.emailsSent !== 1) {
          throw new Error(
            `check-stock found ${result.lowProducts} of ${low} low products and sent ${result.emailsSent} digests`,
          );
        }
        await jobs.idle();
        samples.push({ ms, statements, afterwards: counter.count - statements });
      }
    } finally {
      await jobs.stop(1_000);
      await mailer.close();
    }
    const ms = median(samples.map((s) => s.ms));
    const middle = [...samples].sort((a, b) => a.ms - b.ms)[Math.floor(samples.length / 2)];
    return { ms, statements: middle?.statements ?? 0, afterwards: middle?.afterwards ?? 0 };
  } finally {
    await database.close();
  }
}

const consoleEmail: EmailConfig = {
  backend: "console",
  host: "localhost",
  port: 25,
  useTls: false,
  useSsl: false,
  user: undefined,
  password: undefined,
  from: "davus@example.com",
  timeoutMs: 10_000,
  filePath: "",
};

async function insertProducts(database: Database, count: number, low: number): Promise<void> {
  const every = Math.floor(count / low);
  const now = Date.now();
  for (let from = 0; from < count; from += 1_000) {
    const size = Math.min(1_000, count - from);
    await database.db
      .insertInto("products")
      .values(
        Array.from({ length: size }, (_, i) => {
          const n = from + i;
          const isLow = n % every === 0 && n / every < low;
          return {
            sku: `SKU-${String(n).padStart(6, "0")}`,
            name: `Product ${n}`,
            unit: n % 3 === 0 ? "kg" : "un",
            quantity: isLow ? n % 5 : 50 + (n % 50),
            min_quantity: 10,
            updated_at: now,
          };
        }),
      )
      .execute();
  }
}
