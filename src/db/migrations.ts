import { type Kysely, sql } from "kysely";
import type { Database, Engine } from "./database.js";

/**
 * Migrations are code, in order, never edited once released: a change is a new entry.
 * Each runs once per database, recorded in `schema_migrations`.
 */
interface Migration {
  name: string;
  up(db: Kysely<unknown>, engine: Engine): Promise<void>;
}

const MIGRATIONS: Migration[] = [
  {
    name: "0001_initial",
    async up(db, engine) {
      const id = engine === "sqlite" ? "integer" : "bigserial";
      const time = "bigint";

      await db.schema
        .createTable("products")
        .addColumn("id", id, (c) => c.primaryKey())
        .addColumn("sku", "text", (c) => c.notNull().unique())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("unit", "text", (c) => c.notNull())
        .addColumn("quantity", "double precision", (c) => c.notNull())
        .addColumn("min_quantity", "double precision", (c) => c.notNull())
        .addColumn("updated_at", time, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable("jobs")
        .addColumn("id", id, (c) => c.primaryKey())
        .addColumn("task", "text", (c) => c.notNull())
        .addColumn("payload", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("priority", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("run_at", time, (c) => c.notNull())
        .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("max_attempts", "integer", (c) => c.notNull())
        .addColumn("unique_key", "text")
        .addColumn("locked_by", "text")
        .addColumn("locked_until", time)
        .addColumn("started_at", time)
        .addColumn("last_error", "text")
        .addColumn("created_at", time, (c) => c.notNull())
        .addColumn("updated_at", time, (c) => c.notNull())
        .addColumn("finished_at", time)
        .execute();

      // A unique key holds while its job is alive or done; a dead job frees it.
      await db.schema
        .createIndex("jobs_unique_key")
        .on("jobs")
        .column("unique_key")
        .unique()
        .where(sql.ref("unique_key"), "is not", null)
        .where(sql.ref("status"), "<>", "dead")
        .execute();

      // The claim reads due jobs in this order; the partial index keeps it small.
      await db.schema
        .createIndex("jobs_due")
        .on("jobs")
        .columns(["priority desc", "run_at", "id"])
        .where(sql.ref("status"), "in", ["queued", "failed"])
        .execute();

      await db.schema
        .createIndex("jobs_leases")
        .on("jobs")
        .columns(["locked_until"])
        .where(sql.ref("status"), "=", "running")
        .execute();

      // No index for pruning: it runs every ten minutes, and an index on the finished jobs
      // would cost every completion an index write.

      await db.schema
        .createTable("job_runs")
        .addColumn("id", id, (c) => c.primaryKey())
        .addColumn("job_id", "bigint", (c) => c.notNull())
        .addColumn("task", "text", (c) => c.notNull())
        .addColumn("attempt", "integer", (c) => c.notNull())
        .addColumn("started_at", time, (c) => c.notNull())
        .addColumn("finished_at", time)
        .addColumn("duration_ms", "integer")
        .addColumn("outcome", "text", (c) => c.notNull())
        .addColumn("error", "text")
        .addColumn("trigger", "text", (c) => c.notNull())
        .addColumn("worker", "text", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("job_runs_job").on("job_runs").column("job_id").execute();

      await db.schema
        .createTable("audit_log")
        .addColumn("id", id, (c) => c.primaryKey())
        .addColumn("action", "text", (c) => c.notNull())
        .addColumn("detail", "text", (c) => c.notNull())
        .addColumn("created_at", time, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("audit_log_created")
        .on("audit_log")
        .column("created_at")
        .execute();

      await db.schema
        .createTable("schedules")
        .addColumn("name", "text", (c) => c.primaryKey())
        .addColumn("last_slot_at", time)
        .addColumn("last_fired_at", time)
        .addColumn("last_trigger_at", time)
        .addColumn("last_alert_slot_at", time)
        .addColumn("updated_at", time, (c) => c.notNull())
        .execute();
    },
  },
  {
    name: "0002_trigger_signatures",
    async up(db) {
      // Signatures of signed triggers seen in the last minutes: a second use is a replay.
      await db.schema
        .createTable("trigger_signatures")
        .addColumn("signature", "text", (c) => c.primaryKey())
        .addColumn("seen_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("trigger_signatures_seen")
        .on("trigger_signatures")
        .column("seen_at")
        .execute();
    },
  },
];

export interface MigrationResult {
  applied: string[];
  current: string | undefined;
}

// Any constant works; it only has to be the same in every instance of this service.
const POSTGRES_MIGRATION_LOCK = 73_910_245;

/**
 * Bring the schema up to date. Safe when several processes start at once: PostgreSQL
 * serialises them on an advisory lock, SQLite on its write lock (`BEGIN IMMEDIATE`);
 * the later ones find nothing left to do. All of it is one transaction, so a failed
 * migration leaves the schema as it was.
 */
export async function migrate(database: Database): Promise<MigrationResult> {
  const { engine } = database;
  const db = database.db as unknown as Kysely<unknown>;

  return db.connection().execute(async (connection) => {
    await sql.raw(engine === "sqlite" ? "begin immediate" : "begin").execute(connection);
    try {
      if (engine === "postgres") {
        await sql`select pg_advisory_xact_lock(${POSTGRES_MIGRATION_LOCK})`.execute(connection);
      }
      await connection.schema
        .createTable("schema_migrations")
        .ifNotExists()
        .addColumn("name", "text", (c) => c.primaryKey())
        .addColumn("applied_at", "bigint", (c) => c.notNull())
        .execute();

      const done = await sql<{ name: string }>`select name from schema_migrations`.execute(
        connection,
      );
      const doneNames = new Set(done.rows.map((row) => row.name));
      const applied: string[] = [];
      for (const migration of MIGRATIONS) {
        if (doneNames.has(migration.name)) continue;
        try {
          await migration.up(connection, engine);
        } catch (error) {
          throw new Error(
            `Migration ${migration.name} failed, and nothing of it was applied: ${(error as Error).message}`,
            { cause: error },
          );
        }
        await sql`insert into schema_migrations (name, applied_at) values (${migration.name}, ${Date.now()})`.execute(
          connection,
        );
        applied.push(migration.name);
      }

      await sql.raw("commit").execute(connection);
      return { applied, current: MIGRATIONS.at(-1)?.name };
    } catch (error) {
      await sql.raw("rollback").execute(connection);
      throw error;
    }
  });
}
