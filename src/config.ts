import path from "node:path";
import * as z from "zod";

/**
 * The one place that reads the environment. Every variable is validated here, so a bad
 * value stops start-up with a message that names it, instead of failing on first use.
 */

export type DatabaseConfig =
  | { engine: "sqlite"; path: string; url: string }
  | { engine: "postgres"; url: string; poolSize?: number; statementTimeoutMs?: number };

export type EmailBackend = "smtp" | "console" | "file";

export interface EmailConfig {
  backend: EmailBackend;
  host: string;
  port: number;
  useTls: boolean;
  useSsl: boolean;
  user: string | undefined;
  password: string | undefined;
  from: string;
  timeoutMs: number;
  filePath: string;
}

export interface Config {
  production: boolean;
  database: DatabaseConfig;
  cronApiKeys: string[];
  email: EmailConfig;
  lowStockAlertEmails: string[];
  adminEmails: string[];
  host: string;
  /** Take the client's address from X-Forwarded-For (behind a proxy such as Render's). */
  trustProxy: boolean;
  port: number;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  jobs: {
    timerMs: number;
    retentionDays: number;
    shutdownGraceMs: number;
    tickBudgetMs: number;
  };
}

/** Variables whose values are secret: their values never appear in an error message. */
const SECRET_VARIABLES = new Set(["CRON_API_KEY", "CRON_API_KEYS", "EMAIL_HOST_PASSWORD"]);

export const MIN_PRODUCTION_KEY_LENGTH = 32;

export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === "" ? undefined : value.trim()));

const flag = (fallback: boolean) =>
  optionalText.pipe(
    z
      .enum(
        ["true", "false", "1", "0", "yes", "no", "on", "off", "True", "False", "TRUE", "FALSE"],
        {
          error: "expected true or false",
        },
      )
      .optional()
      .transform((value) =>
        value === undefined ? fallback : ["true", "1", "yes", "on"].includes(value.toLowerCase()),
      ),
  );

const wholeNumber = (fallback: number, min: number, max: number, what: string) =>
  optionalText.pipe(
    z
      .string()
      .regex(/^\d+$/, { error: `expected ${what}` })
      .optional()
      .transform((value) => (value === undefined ? fallback : Number(value)))
      .pipe(
        z
          .number()
          .min(min, { error: `expected ${what}` })
          .max(max, { error: `expected ${what}` }),
      ),
  );

const emailList = optionalText.pipe(
  z
    .string()
    .optional()
    .transform((value) =>
      value === undefined
        ? []
        : value
            .split(",")
            .map((item) => item.trim())
            .filter((item) => item !== ""),
    )
    .pipe(
      z.array(
        z.email({
          error: (issue) =>
            `expected e-mail addresses separated by commas; "${String(issue.input)}" is not one`,
        }),
      ),
    ),
);

const environmentSchema = z.object({
  NODE_ENV: optionalText.pipe(
    z
      .enum(["production", "development", "test"], {
        error: "expected production, development or test",
      })
      .optional(),
  ),
  DATABASE_URL: optionalText.pipe(
    z
      .string()
      .regex(/^(sqlite:|postgres:\/\/|postgresql:\/\/)/, {
        error: "expected sqlite:PATH or a postgres:// URL",
        abort: true,
      })
      // The value is never quoted back: it may hold a password.
      .refine((url) => url.startsWith("sqlite:") || URL.canParse(url), {
        error:
          "expected a postgres:// URL that parses, such as postgres://user:password@host:5432/name (a password with @, : or / in it must be percent-encoded)",
      })
      .optional(),
  ),
  DATABASE_POOL_SIZE: wholeNumber(10, 1, 100, "a whole number of connections from 1 to 100"),
  DATABASE_STATEMENT_TIMEOUT: wholeNumber(30, 1, 3600, "a whole number of seconds from 1 to 3600"),
  CRON_API_KEY: optionalText,
  CRON_API_KEYS: optionalText,
  EMAIL_BACKEND: optionalText.pipe(
    z.enum(["smtp", "console", "file"], { error: "expected smtp, console or file" }).optional(),
  ),
  EMAIL_HOST: optionalText,
  EMAIL_PORT: optionalText.pipe(
    z
      .string()
      .regex(/^\d+$/, { error: "expected a port number from 1 to 65535" })
      .transform(Number)
      .pipe(
        z
          .number()
          .min(1, { error: "expected a port number from 1 to 65535" })
          .max(65535, { error: "expected a port number from 1 to 65535" }),
      )
      .optional(),
  ),
  EMAIL_USE_TLS: flag(false),
  EMAIL_USE_SSL: flag(false),
  EMAIL_HOST_USER: optionalText,
  EMAIL_HOST_PASSWORD: z.string().optional(),
  DEFAULT_FROM_EMAIL: optionalText.pipe(
    z
      .string()
      .refine((value) => z.email().safeParse(/<([^<>]+)>\s*$/.exec(value)?.[1] ?? value).success, {
        error: "expected an address, or a name and an address, such as Davus <estoque@example.com>",
      })
      .optional(),
  ),
  EMAIL_TIMEOUT: optionalText.pipe(
    z
      .string()
      .regex(/^\d+(\.\d+)?$/, { error: "expected a number of seconds, such as 10" })
      .transform(Number)
      .pipe(
        z
          .number()
          .positive({ error: "expected a number of seconds above 0" })
          .max(600, { error: "expected a number of seconds up to 600" }),
      )
      .optional(),
  ),
  EMAIL_FILE_PATH: optionalText,
  LOW_STOCK_ALERT_EMAILS: emailList,
  ADMIN_EMAILS: emailList,
  HOST: optionalText,
  TRUST_PROXY: flag(false),
  PORT: wholeNumber(8000, 0, 65535, "a port number from 0 to 65535"),
  LOG_LEVEL: optionalText.pipe(
    z
      .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], {
        error: "expected one of fatal, error, warn, info, debug, trace, silent",
      })
      .optional(),
  ),
  JOBS_TIMER_SECONDS: wholeNumber(5, 0, 3600, "a whole number of seconds from 0 (off) to 3600"),
  JOBS_RETENTION_DAYS: wholeNumber(14, 1, 3650, "a whole number of days from 1 to 3650"),
  SHUTDOWN_GRACE_SECONDS: wholeNumber(25, 0, 600, "a whole number of seconds from 0 to 600"),
  TICK_BUDGET_SECONDS: wholeNumber(25, 1, 3600, "a whole number of seconds from 1 to 3600"),
});

/** Every variable this service reads. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(environmentSchema.shape);

type Environment = Record<string, string | undefined>;

/** A value as it may be quoted in a message: a URL's user name and password blanked. */
function withoutCredentials(value: string): string {
  // Anything after "scheme://" may hold a user and password, with any characters in them:
  // show the scheme only.
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)/.exec(value);
  return scheme ? `${scheme[1]}…` : value;
}

/**
 * Read and validate the configuration. Throws a `ConfigError` that lists every bad
 * variable at once, each named, with what it expected (never a secret's value).
 */
export function loadConfig(env: Environment = process.env): Config {
  // Every bad value is reported; the checks between variables then run on the others, so
  // that one failed start-up lists all the problems.
  const problems: string[] = [];
  const bad = new Set<string>();
  let parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? "environment");
      const value = env[name];
      const shown =
        value === undefined || SECRET_VARIABLES.has(name)
          ? ""
          : ` (got "${withoutCredentials(value)}")`;
      bad.add(name);
      problems.push(`${name}: ${issue.message}${shown}`);
    }
    // Every variable is optional, so the rest parses without the bad ones.
    parsed = environmentSchema.safeParse(
      Object.fromEntries(Object.entries(env).filter(([name]) => !bad.has(name))),
    );
    if (!parsed.success) throw new ConfigError(problems);
  }
  const vars = parsed.data;
  const valueProblems = problems.length;
  const production = vars.NODE_ENV === "production";

  const cronApiKeys = [vars.CRON_API_KEY, ...(vars.CRON_API_KEYS ?? "").split(",")]
    .map((key) => key?.trim() ?? "")
    .filter((key, index, all) => key !== "" && all.indexOf(key) === index);
  if (production && cronApiKeys.length === 0) {
    problems.push(
      "CRON_API_KEY: expected a secret key of at least 32 characters when NODE_ENV=production (or CRON_API_KEYS, comma separated); none is set",
    );
  }
  // Name the variable the bad key came from, without showing the key.
  const keySource = (key: string) =>
    vars.CRON_API_KEY?.trim() === key ? "CRON_API_KEY" : "CRON_API_KEYS";
  const shortKey = cronApiKeys.find((key) => key.length < MIN_PRODUCTION_KEY_LENGTH);
  if (production && shortKey !== undefined) {
    problems.push(
      `${keySource(shortKey)}: expected every key to be at least ${MIN_PRODUCTION_KEY_LENGTH} characters when NODE_ENV=production; generate one with: openssl rand -hex 32`,
    );
  }
  const spacedKey = cronApiKeys.find((key) => /\s/.test(key));
  if (spacedKey !== undefined) {
    problems.push(
      `${keySource(spacedKey)}: expected keys without spaces: no Authorization header could carry this one`,
    );
  }
  if (
    production &&
    vars.LOW_STOCK_ALERT_EMAILS.length === 0 &&
    !bad.has("LOW_STOCK_ALERT_EMAILS")
  ) {
    problems.push(
      "LOW_STOCK_ALERT_EMAILS: expected the addresses that get the daily digest when NODE_ENV=production, comma separated; none is set",
    );
  }

  if (vars.EMAIL_USE_TLS && vars.EMAIL_USE_SSL) {
    problems.push(
      "EMAIL_USE_TLS and EMAIL_USE_SSL: expected at most one to be true (TLS means STARTTLS, as on port 587 or 2525; SSL means implicit TLS, as on port 465)",
    );
  }
  const backend = vars.EMAIL_BACKEND ?? (production ? undefined : "file");
  if (backend === undefined) {
    problems.push(
      "EMAIL_BACKEND: expected smtp, console or file; it must be set when NODE_ENV=production",
    );
  }
  if (backend === "smtp" && vars.EMAIL_HOST === undefined) {
    problems.push("EMAIL_HOST: expected the SMTP server's host name when EMAIL_BACKEND=smtp");
  }
  if (vars.EMAIL_HOST_USER !== undefined && !vars.EMAIL_HOST_PASSWORD) {
    problems.push("EMAIL_HOST_PASSWORD: expected a password because EMAIL_HOST_USER is set");
  }
  if (problems.length > 0) {
    // A variable already reported for its value is not reported again for what it implies.
    throw new ConfigError(
      problems.filter(
        (problem, index) =>
          index < valueProblems || !bad.has(problem.slice(0, problem.indexOf(":"))),
      ),
    );
  }

  const databaseUrl = vars.DATABASE_URL ?? "sqlite:./data/davus.sqlite";
  const database: DatabaseConfig = databaseUrl.startsWith("sqlite:")
    ? {
        engine: "sqlite",
        path: path.resolve(databaseUrl.slice("sqlite:".length) || "./data/davus.sqlite"),
        url: databaseUrl,
      }
    : {
        engine: "postgres",
        url: databaseUrl,
        poolSize: vars.DATABASE_POOL_SIZE,
        statementTimeoutMs: vars.DATABASE_STATEMENT_TIMEOUT * 1000,
      };

  const lowStockAlertEmails = vars.LOW_STOCK_ALERT_EMAILS;
  return {
    production,
    database,
    cronApiKeys,
    email: {
      backend: backend ?? "file",
      host: vars.EMAIL_HOST ?? "localhost",
      port: vars.EMAIL_PORT ?? (vars.EMAIL_USE_SSL ? 465 : vars.EMAIL_USE_TLS ? 587 : 25),
      useTls: vars.EMAIL_USE_TLS,
      useSsl: vars.EMAIL_USE_SSL,
      user: vars.EMAIL_HOST_USER,
      password: vars.EMAIL_HOST_PASSWORD || undefined,
      from: vars.DEFAULT_FROM_EMAIL ?? "Davus <davus@localhost>",
      timeoutMs: Math.round((vars.EMAIL_TIMEOUT ?? 10) * 1000),
      filePath: path.resolve(vars.EMAIL_FILE_PATH ?? "./data/outbox"),
    },
    lowStockAlertEmails,
    adminEmails: vars.ADMIN_EMAILS.length > 0 ? vars.ADMIN_EMAILS : lowStockAlertEmails,
    host: vars.HOST ?? "0.0.0.0",
    trustProxy: vars.TRUST_PROXY,
    port: vars.PORT,
    logLevel: vars.LOG_LEVEL ?? "info",
    jobs: {
      timerMs: vars.JOBS_TIMER_SECONDS * 1000,
      retentionDays: vars.JOBS_RETENTION_DAYS,
      shutdownGraceMs: vars.SHUTDOWN_GRACE_SECONDS * 1000,
      tickBudgetMs: vars.TICK_BUDGET_SECONDS * 1000,
    },
  };
}
