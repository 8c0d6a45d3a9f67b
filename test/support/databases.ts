import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { DatabaseConfig } from "../../src/config.js";
import { type Database, openDatabase } from "../../src/db/database.js";
import { migrate } from "../../src/db/migrations.js";

export const postgresUrl = process.env.DAVUS_TEST_POSTGRES_URL;

export interface TestEngine {
  name: "sqlite" | "postgres";
  /** A new, empty database of this engine; `drop` removes it. */
  create(): Promise<{ config: DatabaseConfig; url: string; drop(): Promise<void> }>;
}

const sqliteEngine: TestEngine = {
  name: "sqlite",
  async create() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "davus-test-"));
    const file = path.join(dir, "davus.sqlite");
    return {
      config: { engine: "sqlite", path: file, url: `sqlite:${file}` },
      url: `sqlite:${file}`,
      async drop() {
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

const postgresEngine: TestEngine = {
  name: "postgres",
  async create() {
    const admin = postgresUrl as string;
    const name = `davus_test_${randomBytes(6).toString("hex")}`;
    await withAdmin(admin, (client) => client.query(`create database ${name}`));
    const url = new URL(admin);
    url.pathname = `/${name}`;
    return {
      config: { engine: "postgres", url: url.toString() },
      url: url.toString(),
      async drop() {
        await withAdmin(admin, (client) =>
          client.query(`drop database if exists ${name} with (force)`),
        );
      },
    };
  },
};

async function withAdmin<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** SQLite always; PostgreSQL when DAVUS_TEST_POSTGRES_URL is set. */
export const engines: TestEngine[] = postgresUrl ? [sqliteEngine, postgresEngine] : [sqliteEngine];

/** A migrated database of `engine`, and a function that closes and drops it. */
export async function migratedDatabase(
  engine: TestEngine,
): Promise<{ database: Database; url: string; dispose(): Promise<void> }> {
  const created = await engine.create();
  const database = openDatabase(created.config, { poolSize: 12 });
  await migrate(database);
  return {
    database,
    url: created.url,
    async dispose() {
      await database.close();
      await created.drop();
    },
  };
}
