import { type Config, loadConfig } from "../../src/config.js";

export const TEST_KEY = "test-key-0123456789abcdef0123456789abcdef";
export const ROTATED_KEY = "rotated-key-fedcba9876543210fedcba98765";

/** A configuration for tests: file mail into `outbox`, the given database, port 0. */
export function testConfig(databaseUrl: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    DATABASE_URL: databaseUrl,
    CRON_API_KEYS: `${TEST_KEY},${ROTATED_KEY}`,
    EMAIL_BACKEND: "file",
    EMAIL_FILE_PATH: "/tmp/davus-test-outbox",
    LOW_STOCK_ALERT_EMAILS: "estoque@example.com,compras@example.com",
    HOST: "127.0.0.1",
    PORT: "0",
    LOG_LEVEL: "silent",
    JOBS_TIMER_SECONDS: "0",
    ...env,
  });
}
