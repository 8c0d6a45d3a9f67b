import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readAuditLog } from "../../src/audit/audit-log.js";
import { runCli } from "../../src/cli/commands.js";
import { openDatabase } from "../../src/db/database.js";
import { startService } from "../../src/runtime.js";
import { TEST_KEY, testConfig } from "../support/config.js";
import { engines } from "../support/databases.js";

const CATALOGUE = `sku,name,unit,quantity,min_quantity
MER-1,Feijão carioca 1 kg,pct,2,10
MER-2,Arroz agulhinha 5 kg,pct,40,10
`;

describe.each(engines)("the audit log ($name)", (engine) => {
  const saved: Record<string, string | undefined> = {};
  const cleanups: (() => Promise<void> | void)[] = [];

  afterEach(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("records a line for each product import and each check-stock run, with their counts", async () => {
    const created = await engine.create();
    cleanups.push(created.drop);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "davus-audit-"));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, "products.csv");
    fs.writeFileSync(file, CATALOGUE);

    // The command line, as an operator runs it.
    for (const [name, value] of Object.entries({
      DATABASE_URL: created.url,
      LOG_LEVEL: "silent",
    })) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
    const printed: string[] = [];
    expect(await runCli(["products", "import", file], (line) => printed.push(line))).toBe(0);
    expect(printed).toEqual([`${file}: 2 inserted, 0 updated.`]);

    // The HTTP check, as the cron calls it.
    const service = await startService({
      config: testConfig(created.url, { EMAIL_FILE_PATH: dir }),
    });
    cleanups.push(() => service.stop(1_000));
    const response = await fetch(`${service.url}/api/v1/jobs/check-stock/`, {
      method: "POST",
      headers: { Authorization: `Api-Key ${TEST_KEY}` },
    });
    expect(response.status).toBe(200);
    await service.jobs.idle();

    const database = openDatabase(created.config);
    try {
      const lines = await readAuditLog(database.db);
      expect(lines.map((line) => [line.action, line.detail])).toEqual([
        [
          "inventory.check-low-stock",
          {
            period: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
            lowProducts: 1,
            emailsSent: 2,
            emailsPending: 0,
            emailsAlreadySent: 0,
            emailsFailed: 0,
          },
        ],
        ["inventory.import-products", { file, rows: 2, inserted: 2, updated: 0, skipped: 0 }],
      ]);
      expect(lines.every((line) => !Number.isNaN(Date.parse(line.createdAt)))).toBe(true);
    } finally {
      await database.close();
    }
  });
});
