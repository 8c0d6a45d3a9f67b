import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../config.js";
import { importProducts } from "../inventory/import-products.js";
import { findLowStock } from "../inventory/products.js";
import { outboxFileSuffix } from "../mail/mailer.js";
import { startService } from "../runtime.js";

export const EXAMPLE_CATALOGUE = fileURLToPath(
  new URL("../../examples/products.csv", import.meta.url),
);

const DEMO_RECIPIENTS = "estoque@example.com,compras@example.com";

/**
 * `npm run demo`: a fresh SQLite database, the example catalogue imported, the server on a
 * free port with a generated key and the file mail backend, then the cron's two requests.
 */
export async function runDemo(out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const dataDir = path.resolve("data");
  const databaseFile = path.join(dataDir, "demo.sqlite");
  const outbox = path.join(dataDir, "outbox");
  for (const suffix of ["", "-wal", "-shm"])
    await fs.rm(`${databaseFile}${suffix}`, { force: true });

  const key = randomBytes(24).toString("hex");
  const config = loadConfig({
    ...process.env,
    NODE_ENV: "development",
    DATABASE_URL: `sqlite:${databaseFile}`,
    EMAIL_BACKEND: "file",
    EMAIL_FILE_PATH: outbox,
    CRON_API_KEY: key,
    CRON_API_KEYS: "",
    LOW_STOCK_ALERT_EMAILS: process.env.LOW_STOCK_ALERT_EMAILS || DEMO_RECIPIENTS,
    HOST: "127.0.0.1",
    PORT: "0",
    LOG_LEVEL: process.env.LOG_LEVEL || "warn",
  });
  const say = (line = "") => out.write(`${line}\n`);

  const service = await startService({ config });
  try {
    const csv = await fs.readFile(EXAMPLE_CATALOGUE, "utf8");
    const imported = await importProducts(service.database.db, csv, { clock: service.clock });
    if (!imported.applied) {
      say(`The example catalogue was refused: ${imported.issues.length} bad records.`);
      return 1;
    }
    const low = await findLowStock(service.database.db);
    say(
      `Imported ${imported.inserted} products from ${path.relative(process.cwd(), EXAMPLE_CATALOGUE)}; ${low.length} at or below their minimum.`,
    );
    say(
      `Server on ${service.url} (SQLite ${path.relative(process.cwd(), databaseFile)}, mail to ${path.relative(process.cwd(), outbox)}/)`,
    );
    say();

    // The two requests the daily workflow sends.
    const health = await fetch(`${service.url}/health/`);
    say(`GET /health/ -> ${health.status} ${JSON.stringify(await health.json())}`);
    const check = await fetch(`${service.url}/api/v1/jobs/check-stock/`, {
      method: "POST",
      headers: { Authorization: `Api-Key ${key}` },
    });
    const answer = (await check.json()) as { emails_sent?: number };
    say(`POST /api/v1/jobs/check-stock/ -> ${check.status} ${JSON.stringify(answer)}`);
    say();

    const runs = await service.database.db
      .selectFrom("jobs")
      .select(["id", "payload", "status"])
      .where("task", "=", "mail.send")
      .orderBy("id")
      .execute();
    const files = (await fs.readdir(outbox)).filter((name) => name.endsWith(".eml"));
    say(
      `Digests (${runs.length}), each listing the ${low.length} low products, furthest below minimum first:`,
    );
    for (const run of runs) {
      const payload = JSON.parse(run.payload) as { to: string; messageKey: string };
      const suffix = outboxFileSuffix(payload.messageKey);
      const file = files
        .filter((name) => name.endsWith(`-${suffix}`))
        .sort()
        .at(-1);
      say(
        `  ${payload.to}: ${run.status}${file ? `, ${path.relative(process.cwd(), path.join(outbox, file))}` : ""}`,
      );
    }
    say(`Low products: ${low.map((product) => product.sku).join(", ")}`);
    return check.ok && answer.emails_sent === runs.length ? 0 : 1;
  } finally {
    await service.stop(5_000);
  }
}
