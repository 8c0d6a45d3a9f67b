import fs from "node:fs";
import path from "node:path";
import { simpleParser } from "mailparser";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FakeClock } from "../../src/clock.js";
import { KeyRing } from "../../src/http/auth.js";
import { importProducts } from "../../src/inventory/import-products.js";
import { ROTATED_KEY, TEST_KEY } from "../support/config.js";
import { engines, type TestEngine } from "../support/databases.js";
import { startTestService, type TestService } from "../support/service.js";

const NOW = "2026-03-05T15:00:00.000Z";
const RECIPIENTS = ["estoque@example.com", "compras@example.com"];
const CHECK_STOCK = "/api/v1/jobs/check-stock/";

interface TestApi extends TestService {
  request(pathname: string, init?: RequestInit): Promise<Response>;
  checkStock(authorization?: string, init?: RequestInit): Promise<Response>;
}

/** A test service with the service's own tasks and schedules, and ways to call its API. */
async function startApi(engine: TestEngine, env: Record<string, string> = {}): Promise<TestApi> {
  const started = await startTestService({ engine, clock: new FakeClock(NOW), env });
  const request = (pathname: string, init?: RequestInit) =>
    fetch(`${started.service.url}${pathname}`, init);
  return {
    ...started,
    request,
    checkStock: (authorization = `Api-Key ${TEST_KEY}`, init = {}) =>
      request(CHECK_STOCK, { method: "POST", headers: { authorization }, ...init }),
  };
}

/** An error body: JSON with a code and a message, and nothing of the code's insides. */
async function errorBodyOf(response: Response): Promise<{ error: string; message: string }> {
  const text = await response.text();
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  expect(text).not.toMatch(/\bat\s+\S+\s+\(?[^)]*:\d+:\d+\)?/);
  expect(text).not.toMatch(/\.(ts|js):\d+/);
  expect(text).not.toContain("node_modules");
  expect(text).not.toContain(process.cwd());
  const body = JSON.parse(text) as { error: string; message: string };
  expect(Object.keys(body).sort()).toEqual(["error", "message"]);
  return body;
}

const emlFiles = (dir: string) => fs.readdirSync(dir).filter((name) => name.endsWith(".eml"));

describe.each(engines)("HTTP API on $name", (engine) => {
  let api: TestApi;

  beforeAll(async () => {
    api = await startApi(engine);
  });

  afterAll(async () => {
    await api?.dispose();
  });

  beforeEach(async () => {
    const { db } = api.service.database;
    await db.deleteFrom("job_runs").execute();
    await db.deleteFrom("jobs").execute();
    await db.deleteFrom("products").execute();
    for (const file of emlFiles(api.outbox)) fs.rmSync(path.join(api.outbox, file));
  });

  const importCsv = (csv: string) =>
    importProducts(api.service.database.db, csv, { clock: api.service.clock });

  describe("health", () => {
    it.each(["/health", "/health/"])(
      "GET %s answers 200 with the database's state",
      async (url) => {
        const response = await api.request(url);

        expect(response.status).toBe(200);
        expect(await response.json()).toEqual({
          status: "ok",
          database: { engine: engine.name, status: "ok", latency_ms: expect.any(Number) },
          scheduler: {
            last_trigger_at: null,
            overdue: [],
            schedules: [
              {
                name: "inventory.daily-low-stock",
                last_slot: NOW,
                next_slot: expect.stringMatching(/T10:00:00\.000Z$/),
                overdue: false,
                overdue_since: null,
                overdue_slots: 0,
              },
            ],
          },
          time: NOW,
        });
      },
    );
  });

  describe("check-stock", () => {
    it.each([CHECK_STOCK, "/api/v1/jobs/check-stock"])(
      "POST %s with no low products answers success and sends nothing",
      async (url) => {
        const response = await api.request(url, {
          method: "POST",
          headers: { authorization: `Api-Key ${TEST_KEY}` },
        });

        expect(response.status).toBe(200);
        expect(await response.json()).toEqual({
          status: "success",
          low_products: 0,
          emails_sent: 0,
          emails_pending: 0,
          emails_already_sent: 0,
          emails_failed: 0,
        });
        expect(emlFiles(api.outbox)).toEqual([]);
      },
    );

    it("sends one digest per recipient, written as .eml files, when products are low", async () => {
      await importCsv(
        [
          "sku,name,unit,quantity,min_quantity",
          "FAR-1,Farinha,kg,2,10",
          "OVO-12,Ovos,dz,0,3",
          "SAL-1,Sal,kg,50,5",
        ].join("\n"),
      );

      const response = await api.checkStock();

      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        status: "success",
        low_products: 2,
        emails_sent: RECIPIENTS.length,
        emails_pending: 0,
        emails_already_sent: 0,
        emails_failed: 0,
      });
      const mails = await Promise.all(
        emlFiles(api.outbox).map(async (file) =>
          simpleParser(fs.readFileSync(path.join(api.outbox, file))),
        ),
      );
      expect(
        mails.map((mail) => mail.to && !Array.isArray(mail.to) && mail.to.text).sort(),
      ).toEqual([...RECIPIENTS].sort());
      for (const mail of mails) {
        expect(mail.subject).toBe("[Davus] Estoque baixo: 2 produtos em 05/03/2026");
        expect(mail.text).toContain("OVO-12 | Ovos");
        expect(mail.text).toContain("FAR-1 | Farinha");
        expect(mail.text).not.toContain("SAL-1");
      }
    });

    it("sends a day's digest once: a second check the same day reports it already sent", async () => {
      await importCsv(["sku,name,unit,quantity,min_quantity", "FAR-1,Farinha,kg,2,10"].join("\n"));
      await api.checkStock();

      const response = await api.checkStock();

      expect(await response.json()).toMatchObject({
        status: "success",
        emails_sent: 0,
        emails_already_sent: RECIPIENTS.length,
      });
      expect(emlFiles(api.outbox)).toHaveLength(RECIPIENTS.length);
    });
  });

  describe("auth", () => {
    const sameLengthWrongKey = `${TEST_KEY.slice(0, -1)}${TEST_KEY.endsWith("x") ? "y" : "x"}`;

    it("answers 401 missing_credentials without an Authorization header", async () => {
      const response = await api.request(CHECK_STOCK, { method: "POST" });

      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe('Api-Key realm="davus"');
      expect((await errorBodyOf(response)).error).toBe("missing_credentials");
    });

    it("answers 401 malformed_credentials for the Basic scheme", async () => {
      const basic = `Basic ${Buffer.from(`user:${TEST_KEY}`).toString("base64")}`;

      const response = await api.checkStock(basic);

      expect(response.status).toBe(401);
      expect((await errorBodyOf(response)).error).toBe("malformed_credentials");
    });

    it.each([
      ["a wrong key of the same length", sameLengthWrongKey],
      ["a wrong key of another length", "short"],
      ["the key with a character more", `${TEST_KEY}0`],
    ])("answers 403 invalid_key for %s", async (_what, key) => {
      const response = await api.checkStock(`Api-Key ${key}`);

      expect(response.status).toBe(403);
      expect(await errorBodyOf(response)).toEqual({
        error: "invalid_key",
        message: "The key is not valid.",
      });
    });

    it("runs the check for invalid keys never: no digest is written", async () => {
      await importCsv(["sku,name,unit,quantity,min_quantity", "FAR-1,Farinha,kg,2,10"].join("\n"));

      await api.checkStock(`Api-Key ${sameLengthWrongKey}`);
      await api.checkStock("Basic abc");

      expect(emlFiles(api.outbox)).toEqual([]);
    });

    it.each([
      ["the rotated second key", `Api-Key ${ROTATED_KEY}`],
      ["the Bearer scheme", `Bearer ${TEST_KEY}`],
      ["the scheme in lower case", `api-key ${TEST_KEY}`],
    ])("accepts %s", async (_what, authorization) => {
      const response = await api.checkStock(authorization);

      expect(response.status).toBe(200);
      expect(((await response.json()) as { status: string }).status).toBe("success");
    });
  });

  describe("errors", () => {
    it("answers an unknown path with 404 and a JSON error code", async () => {
      const response = await api.request("/api/v2/nothing-here");

      expect(response.status).toBe(404);
      expect(await errorBodyOf(response)).toEqual({
        error: "not_found",
        message: "No route for GET /api/v2/nothing-here.",
      });
    });

    it.each([
      ["GET", "/api/v1/jobs/tick/", "POST"],
      ["DELETE", "/api/v1/jobs/check-stock", "POST"],
      ["POST", "/health/", "GET, HEAD"],
      ["PUT", "/api/v1/jobs/", "GET, HEAD"],
    ])("answers %s %s with 405 and Allow: %s", async (method, pathname, allow) => {
      const response = await api.request(pathname, { method });

      expect(response.status).toBe(405);
      expect(response.headers.get("allow")).toBe(allow);
      expect(await errorBodyOf(response)).toEqual({
        error: "method_not_allowed",
        message: `${pathname.replace(/\/$/, "")} answers ${allow}, not ${method}.`,
      });
    });

    it("answers a body over 64 KiB with 413 JSON and does not run the check", async () => {
      await importCsv(["sku,name,unit,quantity,min_quantity", "FAR-1,Farinha,kg,2,10"].join("\n"));

      const response = await api.checkStock(`Api-Key ${TEST_KEY}`, {
        body: "x".repeat(64 * 1024 + 1),
      });

      expect(response.status).toBe(413);
      expect((await errorBodyOf(response)).error).toBe("payload_too_large");
      expect(emlFiles(api.outbox)).toEqual([]);
    });

    it("accepts a body of exactly 64 KiB", async () => {
      const response = await api.checkStock(`Api-Key ${TEST_KEY}`, { body: "x".repeat(64 * 1024) });

      expect(response.status).toBe(200);
    });
  });
});

describe.each(engines)("HTTP API failures on $name", (engine) => {
  let api: TestApi | undefined;

  afterEach(async () => {
    await api?.dispose();
    api = undefined;
  });

  it("answers 500 no_recipients, without a stack, when products are low and nobody gets mail", async () => {
    api = await startApi(engine, { LOW_STOCK_ALERT_EMAILS: "" });
    await importProducts(
      api.service.database.db,
      ["sku,name,unit,quantity,min_quantity", "FAR-1,Farinha,kg,2,10"].join("\n"),
      { clock: api.service.clock },
    );

    const response = await api.checkStock();

    expect(response.status).toBe(500);
    const body = await errorBodyOf(response);
    expect(body.error).toBe("no_recipients");
    expect(body.message).toContain("LOW_STOCK_ALERT_EMAILS");
  });

  it("answers 503 on health and 500 internal_error, without a stack, when the database is gone", async () => {
    api = await startApi(engine);
    await api.service.database.close();

    const health = await api.request("/health/");
    const check = await api.checkStock();

    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({
      status: "unavailable",
      database: { engine: engine.name, status: "down", error: "the database does not answer" },
    });
    expect(check.status).toBe(500);
    const body = await errorBodyOf(check);
    expect(body.error).toBe("internal_error");
    expect(body.message).toMatch(/request id [0-9a-f-]{36}/);
  });
});

describe("KeyRing", () => {
  const ring = new KeyRing([TEST_KEY, ROTATED_KEY]);

  it("matches each of its keys and nothing else", () => {
    expect(ring.size).toBe(2);
    expect(ring.matches(TEST_KEY)).toBe(true);
    expect(ring.matches(ROTATED_KEY)).toBe(true);
    expect(ring.matches(TEST_KEY.slice(0, -1))).toBe(false);
    expect(ring.matches(`${TEST_KEY} `)).toBe(false);
    expect(ring.matches(TEST_KEY.toUpperCase())).toBe(false);
    expect(ring.matches("")).toBe(false);
  });

  it("matches nothing when it holds no key", () => {
    const empty = new KeyRing([]);

    expect(empty.size).toBe(0);
    expect(empty.matches("")).toBe(false);
    expect(empty.checkHeader("Api-Key anything")).toBe("wrong");
  });

  it.each([
    [undefined, "missing"],
    ["", "missing"],
    ["   ", "missing"],
    [`Basic ${TEST_KEY}`, "malformed"],
    ["Api-Key", "malformed"],
    [`Api-Key ${TEST_KEY} extra`, "malformed"],
    [`Token ${TEST_KEY}`, "malformed"],
    [`Api-Key ${TEST_KEY}`, "ok"],
    [`  Bearer   ${ROTATED_KEY}  `, "ok"],
    [`API-KEY ${TEST_KEY}`, "ok"],
    ["Api-Key not-the-key", "wrong"],
  ])("checks the header %j as %s", (header, expected) => {
    expect(ring.checkHeader(header)).toBe(expected);
  });

  it("walks the digests of its keys, not the keys", () => {
    const seen: string[] = [];

    ring.forEach((digest) => {
      seen.push(digest.toString("hex"));
    });

    expect(seen).toHaveLength(2);
    expect(seen.every((hex) => /^[0-9a-f]{64}$/.test(hex))).toBe(true);
    expect(seen.join()).not.toContain(Buffer.from(TEST_KEY).toString("hex"));
  });
});
