import net from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FakeClock } from "../../src/clock.js";
import { importProducts } from "../../src/inventory/import-products.js";
import { classifySmtpError } from "../../src/mail/smtp-errors.js";
import { type Service, startService } from "../../src/runtime.js";
import { TEST_KEY, testConfig } from "../support/config.js";
import { engines, type TestEngine } from "../support/databases.js";
import { makeCertificate, TestSmtpServer } from "../support/smtp.js";

const CATALOGUE = `sku,name,unit,quantity,min_quantity
MER-1,Feijão carioca 1 kg,pct,2,10
MER-2,Arroz agulhinha 5 kg,pct,40,10
LIM-1,Detergente neutro 500 ml,un,0,12
`;

const certificate = makeCertificate();

async function checkStock(service: Service) {
  const response = await fetch(`${service.url}/api/v1/jobs/check-stock/`, {
    method: "POST",
    headers: { Authorization: `Api-Key ${TEST_KEY}` },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe.each(engines)("check-stock while SMTP is down ($name)", (engine: TestEngine) => {
  let smtp: TestSmtpServer;
  let service: Service;
  let clock: FakeClock;
  let drop: () => Promise<void>;

  beforeEach(async () => {
    smtp = new TestSmtpServer({ certificate });
    const port = await smtp.start();
    await smtp.stop();
    const created = await engine.create();
    drop = created.drop;
    clock = new FakeClock("2026-12-04T10:00:00Z");
    const config = testConfig(created.url, {
      EMAIL_BACKEND: "smtp",
      EMAIL_HOST: "127.0.0.1",
      EMAIL_PORT: String(port),
      EMAIL_USE_TLS: "true",
      EMAIL_TIMEOUT: "3",
    });
    service = await startService({ config, clock, tlsCa: certificate.cert });
    await importProducts(service.database.db, CATALOGUE, { clock });
  });

  afterEach(async () => {
    await service.stop(5_000);
    await smtp.stop();
    await drop();
  });

  it("answers non-2xx with emails_pending and a clear message, then the next call delivers once", async () => {
    const down = await checkStock(service);
    expect(down.status).toBe(502);
    expect(down.body).toMatchObject({
      status: "error",
      error: "mail_pending",
      emails_sent: 0,
      emails_pending: 2,
    });
    expect(down.body.message).toContain(`127.0.0.1:${smtp.port}`);
    expect(down.body.message).toContain("connection was refused");

    const queued = await service.database.db
      .selectFrom("jobs")
      .select(["status", "attempts"])
      .execute();
    expect(queued).toEqual([
      { status: "failed", attempts: 1 },
      { status: "failed", attempts: 1 },
    ]);

    await smtp.start();
    const back = await checkStock(service);
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ status: "success", emails_sent: 2, emails_pending: 0 });
    expect(smtp.received.map((mail) => mail.to[0]).sort()).toEqual([
      "compras@example.com",
      "estoque@example.com",
    ]);

    const again = await checkStock(service);
    expect(again.body).toMatchObject({ status: "success", emails_sent: 0, emails_already_sent: 2 });
    expect(smtp.received).toHaveLength(2);
  });

  it("makes the cron's tick report a failed job when the day's digests cannot be delivered", async () => {
    // Monday 10:07 UTC: the 07:00 slot in São Paulo is due, and SMTP is down.
    clock.set("2026-12-07T10:07:00Z");
    const response = await fetch(`${service.url}/api/v1/jobs/tick/`, {
      method: "POST",
      headers: { Authorization: `Api-Key ${TEST_KEY}` },
    });
    const body = (await response.json()) as {
      fired: { schedule: string }[];
      drain: { succeeded: number; failed: number; dead: number };
    };

    expect(response.status).toBe(200);
    expect(body.fired.map((slot) => slot.schedule)).toEqual(["inventory.daily-low-stock"]);
    expect(body.drain).toMatchObject({ succeeded: 0, failed: 1, dead: 0 });
    const check = await service.database.db
      .selectFrom("jobs")
      .select(["status", "last_error"])
      .where("task", "=", "inventory.check-low-stock")
      .executeTakeFirstOrThrow();
    expect(check.status).toBe("failed");
    expect(check.last_error).toContain("2 digests pending and 0 refused");
  });

  it("lets one drain deliver each digest exactly once when SMTP is back, and a second check sends nothing new", async () => {
    expect((await checkStock(service)).status).toBe(502);
    await smtp.start();

    // Not due yet: the retry waits for its backoff.
    const early = await service.jobs.drain({ budgetMs: 5_000 });
    expect(early.counts.succeeded).toBe(0);
    expect(smtp.received).toHaveLength(0);

    clock.advance(2 * 60_000);
    const drained = await service.jobs.drain({ budgetMs: 10_000 });
    expect(drained.counts).toMatchObject({ succeeded: 2, failed: 0, dead: 0 });
    expect(drained.remaining).toBe(0);
    expect(smtp.received).toHaveLength(2);

    const second = await checkStock(service);
    expect(second.body).toMatchObject({
      status: "success",
      emails_sent: 0,
      emails_already_sent: 2,
    });
    expect(smtp.received).toHaveLength(2);

    const runs = await service.database.db
      .selectFrom("job_runs")
      .select(["attempt", "outcome"])
      .orderBy("job_id")
      .orderBy("attempt")
      .execute();
    expect(runs.map((run) => `${run.attempt}:${run.outcome}`)).toEqual([
      "1:failed",
      "2:succeeded",
      "1:failed",
      "2:succeeded",
    ]);
  });
});

describe("SMTP failures are named", () => {
  let silent: net.Server;
  let sockets: net.Socket[] = [];

  beforeAll(async () => {
    // Accepts the connection and never greets: what a filtered or stuck port looks like.
    silent = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    sockets = [];
    await new Promise((resolve) => silent.close(resolve));
  });

  it("says which host and port timed out, and that the host may block the port", async () => {
    const { createMailer } = await import("../../src/mail/mailer.js");
    const { createLogger } = await import("../../src/logger.js");
    const port = (silent.address() as net.AddressInfo).port;
    const mailer = createMailer({
      config: {
        backend: "smtp",
        host: "127.0.0.1",
        port,
        useTls: true,
        useSsl: false,
        user: undefined,
        password: undefined,
        from: "davus@example.com",
        timeoutMs: 300,
        filePath: "/tmp",
      },
      logger: createLogger("silent"),
    });
    try {
      const error = await mailer
        .send({ to: "a@example.com", subject: "s", text: "t", messageKey: "k" })
        .then(
          () => undefined,
          (thrown: unknown) => thrown as { code: string; message: string; retryable: boolean },
        );
      expect(error?.code).toBe("smtp_timeout");
      expect(error?.retryable).toBe(true);
      expect(error?.message).toContain(`127.0.0.1:${port}`);
      expect(error?.message).toContain("no answer within 300 ms (EMAIL_TIMEOUT)");
    } finally {
      await mailer.close();
    }
  });

  it("points at blocked ports and SendGrid's 2525 when a usual SMTP port times out", () => {
    const error = classifySmtpError(
      Object.assign(new Error("Connection timeout"), { code: "ETIMEDOUT" }),
      {
        host: "smtp.sendgrid.net",
        port: 587,
        useTls: true,
        useSsl: false,
        timeoutMs: 10_000,
      },
    );
    expect(error.message).toBe(
      "Could not deliver through SMTP server smtp.sendgrid.net:587: no answer within 10000 ms (EMAIL_TIMEOUT). Most often the host blocks outbound port 587: some free hosts block ports 25, 465 and 587. SendGrid also listens on 2525 (set EMAIL_PORT=2525 and EMAIL_USE_TLS=true).",
    );
  });

  it("tells a permanent rejection (5xx) from a deferral (4xx)", () => {
    const target = {
      host: "mx.example.com",
      port: 2525,
      useTls: true,
      useSsl: false,
      timeoutMs: 1000,
    };
    const rejected = classifySmtpError(
      { responseCode: 550, response: "550 no such user", command: "RCPT TO" },
      target,
    );
    const deferred = classifySmtpError(
      { responseCode: 451, response: "451 try later", command: "DATA" },
      target,
    );
    expect([rejected.code, rejected.retryable]).toEqual(["smtp_rejected", false]);
    expect([deferred.code, deferred.retryable]).toEqual(["smtp_deferred", true]);
  });
});
