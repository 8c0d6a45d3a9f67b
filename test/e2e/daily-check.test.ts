import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_CATALOGUE } from "../../src/cli/demo.js";
import { FakeClock } from "../../src/clock.js";
import { importProducts, readProducts } from "../../src/inventory/import-products.js";
import { type Service, startService } from "../../src/runtime.js";
import { TEST_KEY, testConfig } from "../support/config.js";
import { engines, type TestEngine } from "../support/databases.js";
import { captureLogs } from "../support/logs.js";
import { makeCertificate, TestSmtpServer } from "../support/smtp.js";
import { runStep, workflowSteps } from "../support/workflow.js";

const WORKFLOW = path.resolve(".github/workflows/daily_checks.yml");
const RECIPIENTS = ["estoque@example.com", "compras@example.com"];
const SMTP_USER = "davus-mailer";
const SMTP_PASSWORD = "smtp-password-that-must-never-be-logged";

const catalogue = fs.readFileSync(EXAMPLE_CATALOGUE, "utf8");
const allProducts = readProducts(catalogue).rows;
const lowSkus = allProducts.filter((p) => p.quantity <= p.min_quantity).map((p) => p.sku);

describe.each(engines)(
  "the daily workflow against the real server ($name)",
  (engine: TestEngine) => {
    const certificate = makeCertificate();
    const smtp = new TestSmtpServer({
      certificate,
      auth: { user: SMTP_USER, pass: SMTP_PASSWORD },
    });
    const logs = captureLogs("debug");
    const clock = new FakeClock("2026-12-07T09:00:00Z");
    let service: Service;
    let drop: () => Promise<void>;

    beforeAll(async () => {
      const smtpPort = await smtp.start();
      const created = await engine.create();
      drop = created.drop;
      const config = testConfig(created.url, {
        EMAIL_BACKEND: "smtp",
        EMAIL_HOST: "127.0.0.1",
        EMAIL_PORT: String(smtpPort),
        EMAIL_USE_TLS: "true",
        EMAIL_HOST_USER: SMTP_USER,
        EMAIL_HOST_PASSWORD: SMTP_PASSWORD,
        EMAIL_TIMEOUT: "5",
        DEFAULT_FROM_EMAIL: "Davus <davus@example.com>",
        LOW_STOCK_ALERT_EMAILS: RECIPIENTS.join(","),
        CRON_API_KEYS: "",
        CRON_API_KEY: TEST_KEY,
      });
      // Monday 06:00 in São Paulo: the service is up before the day's 07:00 slot.
      service = await startService({ config, logger: logs.logger, tlsCa: certificate.cert, clock });
      const imported = await importProducts(service.database.db, catalogue, {
        clock: service.clock,
      });
      expect(imported.applied).toBe(true);
    });

    afterAll(async () => {
      await service?.stop(5_000);
      await smtp.stop();
      await drop?.();
    });

    it("wakes the service, ticks with curl at 07:07, and the SMTP server receives one digest per recipient", async () => {
      expect(lowSkus.length).toBeGreaterThan(0);
      const steps = workflowSteps(WORKFLOW, {
        "vars.DAVUS_URL": `${service.url}/`,
        "secrets.DAVUS_CRON_API_KEY": TEST_KEY,
      });
      expect(steps.map((step) => step.name)).toEqual([
        "Wake the service",
        "Fire due slots and drain the queue",
      ]);

      // GitHub starts the run at the workflow's cron, 10:07 UTC.
      clock.set("2026-12-07T10:07:00Z");
      const wake = await runStep(steps[0]!);
      expect(wake.stderr).toBe("");
      expect(wake.code).toBe(0);
      expect(wake.stdout).toContain("attempt 1: /health/ answered 200");

      const tick = await runStep(steps[1]!);
      expect(tick.stderr).toBe("");
      expect(tick.code).toBe(0);
      const answers = tick.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line));
      expect(answers[0]).toMatchObject({
        status: "success",
        fired: [
          {
            schedule: "inventory.daily-low-stock",
            slot: "2026-12-07T10:00:00.000Z",
            late_by_ms: 7 * 60_000,
          },
        ],
        drain: { succeeded: 1, failed: 0, dead: 0 },
        remaining: 0,
      });

      expect(smtp.received).toHaveLength(2);
      expect(smtp.received.flatMap((mail) => mail.to).sort()).toEqual([...RECIPIENTS].sort());
      for (const mail of smtp.received) {
        expect(mail.secure).toBe(true);
        expect(mail.user).toBe(SMTP_USER);
        expect(mail.parsed.subject).toBe(
          `[Davus] Estoque baixo: ${lowSkus.length} produtos em 07/12/2026`,
        );
        const text = mail.parsed.text ?? "";
        const html = String(mail.parsed.html);
        for (const product of allProducts) {
          const listed = lowSkus.includes(product.sku);
          expect(text.includes(`${product.sku} |`), `${product.sku} in the text`).toBe(listed);
          expect(html.includes(`>${product.sku}<`), `${product.sku} in the HTML`).toBe(listed);
        }
      }

      // A doubled cron run for the same slot sends nothing more.
      const again = await runStep(steps[1]!);
      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout.trim())).toMatchObject({ fired: [], remaining: 0 });
      expect(smtp.received).toHaveLength(2);
    });

    it("answers the seed's check-stock request with curl: digests already sent today are not sent again", async () => {
      const check = await runStep({
        name: "seed request",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: bash expands these, not JavaScript.
        run: 'curl --fail-with-body --silent --show-error -X POST -H "Authorization: Api-Key ${KEY}" "${URL}/api/v1/jobs/check-stock/"',
        env: { KEY: TEST_KEY, URL: service.url },
      });
      expect(check.code).toBe(0);
      expect(JSON.parse(check.stdout)).toMatchObject({
        status: "success",
        emails_sent: 0,
        emails_already_sent: 2,
      });
      expect(smtp.received).toHaveLength(2);
    });

    it("fails the workflow step visibly when the key is wrong", async () => {
      const steps = workflowSteps(WORKFLOW, {
        "vars.DAVUS_URL": service.url,
        "secrets.DAVUS_CRON_API_KEY": "not-the-key",
      });
      const check = await runStep(steps[1]!);
      expect(check.code).toBe(1);
      expect(check.stderr).toContain("The requested URL returned error: 403");
      expect(JSON.parse(check.stdout)).toEqual({
        error: "invalid_key",
        message: "The key is not valid.",
      });
    });

    it("never logs the key or the SMTP password", async () => {
      await service.jobs.idle();
      const text = logs.text();
      expect(text).toContain('"msg":"request"');
      expect(text).toContain("job succeeded");
      expect(text).not.toContain(TEST_KEY);
      expect(text).not.toContain(SMTP_PASSWORD);
      expect(text).not.toContain("not-the-key");
    });
  },
);
