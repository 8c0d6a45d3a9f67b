import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";

const LONG_KEY = "k".repeat(32);
const RECIPIENTS = { LOW_STOCK_ALERT_EMAILS: "estoque@example.com" };
const PRODUCTION = {
  NODE_ENV: "production",
  EMAIL_BACKEND: "console",
  CRON_API_KEY: LONG_KEY,
  ...RECIPIENTS,
};

/** The ConfigError thrown for `env`; fails the test when the configuration is accepted. */
function configErrorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe("loadConfig defaults", () => {
  it("uses a SQLite file under ./data, the file mail backend and port 8000", () => {
    const config = loadConfig({});

    expect(config.production).toBe(false);
    expect(config.database).toEqual({
      engine: "sqlite",
      path: path.resolve("data/davus.sqlite"),
      url: "sqlite:./data/davus.sqlite",
    });
    expect(config.email.backend).toBe("file");
    expect(config.email.filePath).toBe(path.resolve("data/outbox"));
    expect(config.port).toBe(8000);
    expect(config.host).toBe("0.0.0.0");
    expect(config.logLevel).toBe("info");
    expect(config.cronApiKeys).toEqual([]);
    expect(config.lowStockAlertEmails).toEqual([]);
    expect(config.email.timeoutMs).toBe(10_000);
  });

  it("defaults the mail port to 587 with EMAIL_USE_TLS and to 465 with EMAIL_USE_SSL", () => {
    const tls = loadConfig({ EMAIL_USE_TLS: "true" }).email;
    const ssl = loadConfig({ EMAIL_USE_SSL: "True" }).email;

    expect([tls.port, tls.useTls, tls.useSsl]).toEqual([587, true, false]);
    expect([ssl.port, ssl.useTls, ssl.useSsl]).toEqual([465, false, true]);
  });

  it("keeps an explicit EMAIL_PORT over the default for the TLS mode", () => {
    expect(loadConfig({ EMAIL_USE_TLS: "1", EMAIL_PORT: "2525" }).email.port).toBe(2525);
  });

  it("reads a postgres:// DATABASE_URL as PostgreSQL", () => {
    const url = "postgres://davus@127.0.0.1:5432/davus";

    expect(loadConfig({ DATABASE_URL: url }).database).toEqual({
      engine: "postgres",
      url,
      poolSize: 10,
      statementTimeoutMs: 30_000,
    });
  });

  it("reads the pool size and statement timeout for PostgreSQL, and names a bad one", () => {
    const config = loadConfig({
      DATABASE_URL: "postgres://127.0.0.1/davus",
      DATABASE_POOL_SIZE: "4",
      DATABASE_STATEMENT_TIMEOUT: "5",
    });
    expect(config.database).toMatchObject({ poolSize: 4, statementTimeoutMs: 5_000 });
    expect(() => loadConfig({ DATABASE_POOL_SIZE: "lots" })).toThrow(
      'DATABASE_POOL_SIZE: expected a whole number of connections from 1 to 100 (got "lots")',
    );
  });

  it("reads EMAIL_TIMEOUT in seconds and LOW_STOCK_ALERT_EMAILS as a trimmed list", () => {
    const config = loadConfig({
      EMAIL_TIMEOUT: "2.5",
      LOW_STOCK_ALERT_EMAILS: " estoque@example.com , compras@example.com,",
    });

    expect(config.email.timeoutMs).toBe(2_500);
    expect(config.lowStockAlertEmails).toEqual(["estoque@example.com", "compras@example.com"]);
    expect(config.adminEmails).toEqual(["estoque@example.com", "compras@example.com"]);
  });
});

describe("loadConfig refusals", () => {
  const badValues: { variable: string; value: string; expected: string }[] = [
    { variable: "EMAIL_PORT", value: "abc", expected: "expected a port number from 1 to 65535" },
    { variable: "EMAIL_USE_TLS", value: "maybe", expected: "expected true or false" },
    {
      variable: "DATABASE_URL",
      value: "sqlite-file.db",
      expected: "expected sqlite:PATH or a postgres:// URL",
    },
    {
      variable: "LOW_STOCK_ALERT_EMAILS",
      value: "estoque@example.com,compras",
      expected: 'expected e-mail addresses separated by commas; "compras" is not one',
    },
    {
      variable: "LOG_LEVEL",
      value: "loud",
      expected: "expected one of fatal, error, warn, info, debug, trace, silent",
    },
    {
      variable: "EMAIL_TIMEOUT",
      value: "-1",
      expected: "expected a number of seconds, such as 10",
    },
    { variable: "EMAIL_BACKEND", value: "pigeon", expected: "expected smtp, console or file" },
    { variable: "PORT", value: "http", expected: "expected a port number from 0 to 65535" },
  ];

  it.each(badValues)(
    "refuses $variable=$value, naming the variable, what it expected and the value",
    ({ variable, value, expected }) => {
      const error = configErrorOf({ [variable]: value });

      expect(error.problems).toEqual([`${variable}: ${expected} (got "${value}")`]);
      expect(error.message).toBe(
        `Invalid configuration:\n  - ${variable}: ${expected} (got "${value}")`,
      );
    },
  );

  it("refuses an out-of-range EMAIL_PORT with the same words as a non-numeric one", () => {
    expect(configErrorOf({ EMAIL_PORT: "0" }).problems).toEqual([
      'EMAIL_PORT: expected a port number from 1 to 65535 (got "0")',
    ]);
    expect(configErrorOf({ EMAIL_PORT: "70000" }).problems).toEqual([
      'EMAIL_PORT: expected a port number from 1 to 65535 (got "70000")',
    ]);
  });

  it("refuses an EMAIL_TIMEOUT above 600 seconds, saying the bound", () => {
    expect(configErrorOf({ EMAIL_TIMEOUT: "601" }).problems).toEqual([
      'EMAIL_TIMEOUT: expected a number of seconds up to 600 (got "601")',
    ]);
  });

  it("reports several bad variables together", () => {
    const error = configErrorOf({
      EMAIL_PORT: "abc",
      EMAIL_USE_TLS: "maybe",
      LOG_LEVEL: "loud",
      EMAIL_TIMEOUT: "-1",
    });

    expect(error.problems.map((problem) => problem.split(":")[0])).toEqual([
      "EMAIL_PORT",
      "EMAIL_USE_TLS",
      "EMAIL_TIMEOUT",
      "LOG_LEVEL",
    ]);
  });

  it("reports a bad value and a missing production key together", () => {
    const error = configErrorOf({
      NODE_ENV: "production",
      EMAIL_BACKEND: "console",
      PORT: "x",
      ...RECIPIENTS,
    });

    expect(error.problems.map((problem) => problem.split(":")[0])).toEqual([
      "PORT",
      "CRON_API_KEY",
    ]);
  });

  it("reports a bad EMAIL_BACKEND in production once, for its value", () => {
    const error = configErrorOf({ ...PRODUCTION, EMAIL_BACKEND: "pigeon" });

    expect(error.problems).toEqual([
      'EMAIL_BACKEND: expected smtp, console or file (got "pigeon")',
    ]);
  });

  it("refuses EMAIL_USE_TLS and EMAIL_USE_SSL both true", () => {
    const error = configErrorOf({ EMAIL_USE_TLS: "true", EMAIL_USE_SSL: "yes" });

    expect(error.problems).toEqual([
      expect.stringMatching(/^EMAIL_USE_TLS and EMAIL_USE_SSL: expected at most one to be true/),
    ]);
  });

  it("accepts a production configuration with a key of 32 characters", () => {
    const config = loadConfig(PRODUCTION);

    expect(config.production).toBe(true);
    expect(config.cronApiKeys).toEqual([LONG_KEY]);
  });

  it("refuses production without any key", () => {
    const error = configErrorOf({
      NODE_ENV: "production",
      EMAIL_BACKEND: "console",
      ...RECIPIENTS,
    });

    expect(error.problems).toEqual([
      "CRON_API_KEY: expected a secret key of at least 32 characters when NODE_ENV=production (or CRON_API_KEYS, comma separated); none is set",
    ]);
  });

  it("refuses production with a key shorter than 32 characters, even as a second key", () => {
    const error = configErrorOf({ ...PRODUCTION, CRON_API_KEYS: "k".repeat(31) });

    expect(error.problems).toEqual([
      expect.stringMatching(/^CRON_API_KEYS: expected every key to be at least 32 characters/),
    ]);
  });

  it("refuses a key with a space in it, which no Authorization header could carry", () => {
    const error = configErrorOf({ CRON_API_KEY: "abcdefghijklmnop qrstuvwxyz0123456789" });

    expect(error.problems).toEqual([
      "CRON_API_KEY: expected keys without spaces: no Authorization header could carry this one",
    ]);
    expect(error.message).not.toContain("qrstuvwxyz");
  });

  it("refuses production without anyone to send the digest to", () => {
    const { LOW_STOCK_ALERT_EMAILS: _, ...withoutRecipients } = PRODUCTION;

    expect(configErrorOf(withoutRecipients).problems).toEqual([
      "LOW_STOCK_ALERT_EMAILS: expected the addresses that get the daily digest when NODE_ENV=production, comma separated; none is set",
    ]);
  });

  it.each([
    ["NODE_ENV", "prod", "expected production, development or test"],
    [
      "DEFAULT_FROM_EMAIL",
      "not an email",
      "expected an address, or a name and an address, such as Davus <estoque@example.com>",
    ],
  ])("refuses %s=%s, saying what it expected", (variable, value, expected) => {
    expect(configErrorOf({ [variable]: value }).problems).toEqual([
      `${variable}: ${expected} (got "${value}")`,
    ]);
  });

  it("accepts DEFAULT_FROM_EMAIL as an address or as a name and an address", () => {
    expect(loadConfig({ DEFAULT_FROM_EMAIL: "estoque@example.com" }).email.from).toBe(
      "estoque@example.com",
    );
    expect(loadConfig({ DEFAULT_FROM_EMAIL: "Davus <estoque@example.com>" }).email.from).toBe(
      "Davus <estoque@example.com>",
    );
  });

  it("refuses production without EMAIL_BACKEND rather than writing mail to files", () => {
    const error = configErrorOf({ NODE_ENV: "production", CRON_API_KEY: LONG_KEY, ...RECIPIENTS });

    expect(error.problems).toEqual([
      "EMAIL_BACKEND: expected smtp, console or file; it must be set when NODE_ENV=production",
    ]);
  });

  it("refuses the smtp backend without EMAIL_HOST, and a user without a password", () => {
    const error = configErrorOf({ EMAIL_BACKEND: "smtp", EMAIL_HOST_USER: "apikey" });

    expect(error.problems.map((problem) => problem.split(":")[0])).toEqual([
      "EMAIL_HOST",
      "EMAIL_HOST_PASSWORD",
    ]);
  });
});

describe("loadConfig keys", () => {
  it("merges CRON_API_KEY and CRON_API_KEYS, trimmed, without duplicates, in order", () => {
    const config = loadConfig({
      CRON_API_KEY: "key-one",
      CRON_API_KEYS: " key-two ,key-one,, key-three,key-two",
    });

    expect(config.cronApiKeys).toEqual(["key-one", "key-two", "key-three"]);
  });
});

describe("loadConfig secrets", () => {
  const SECRET_KEY = "short-secret-key-9f8e7d";
  const SECRET_PASSWORD = "smtp-password-4c3b2a";

  it("never shows CRON_API_KEY or EMAIL_HOST_PASSWORD in an error message", () => {
    const errors = [
      configErrorOf({
        NODE_ENV: "production",
        EMAIL_BACKEND: "pigeon",
        CRON_API_KEY: SECRET_KEY,
        ...RECIPIENTS,
      }),
      configErrorOf({ ...PRODUCTION, CRON_API_KEY: SECRET_KEY, LOG_LEVEL: "loud" }),
      configErrorOf({ ...PRODUCTION, CRON_API_KEYS: `${LONG_KEY},${SECRET_KEY}` }),
      configErrorOf({
        EMAIL_BACKEND: "smtp",
        EMAIL_HOST_USER: "apikey",
        EMAIL_HOST_PASSWORD: SECRET_PASSWORD,
        EMAIL_USE_TLS: "true",
        EMAIL_USE_SSL: "true",
        EMAIL_PORT: "smtp",
      }),
    ];

    for (const error of errors) {
      expect(error.problems.length).toBeGreaterThan(0);
      expect(error.message).not.toContain(SECRET_KEY);
      expect(error.message).not.toContain(SECRET_PASSWORD);
      expect(String(error.stack)).not.toContain(SECRET_KEY);
      expect(String(error.stack)).not.toContain(SECRET_PASSWORD);
    }
  });

  it("does not show the password of a DATABASE_URL it refuses", () => {
    const error = configErrorOf({ DATABASE_URL: "mysql://davus:db-password-77aa@db.example/x" });

    expect(error.problems).toEqual([expect.stringMatching(/^DATABASE_URL: expected sqlite:PATH/)]);
    expect(error.message).not.toContain("db-password-77aa");
  });

  it("refuses a postgres:// URL that does not parse, without showing its password", () => {
    const error = configErrorOf({ DATABASE_URL: "postgres://davus:pw-91zz@[::1:5432/davus" });

    expect(error.problems).toEqual([
      'DATABASE_URL: expected a postgres:// URL that parses, such as postgres://user:password@host:5432/name (a password with @, : or / in it must be percent-encoded) (got "postgres://…")',
    ]);
    expect(error.message).not.toContain("pw-91zz");
  });

  it.each(["postgress://davus:s3cr/et@127.0.0.1/db", "pg://davus:p@ss@127.0.0.1/db"])(
    "shows only the scheme of a refused URL, whatever its password holds (%s)",
    (url) => {
      const error = configErrorOf({ DATABASE_URL: url });

      expect(error.problems).toEqual([
        `DATABASE_URL: expected sqlite:PATH or a postgres:// URL (got "${url.slice(0, url.indexOf("//") + 2)}…")`,
      ]);
    },
  );
});
