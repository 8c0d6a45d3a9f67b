import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import {
  Kysely,
  PostgresDialect,
  SqliteDialect,
  type SqliteDatabase as SqliteDialectDatabase,
  sql,
} from "kysely";
import type pg from "pg";
import type { DatabaseConfig } from "../config.js";
import type { Schema } from "./schema.js";

// pg is loaded on first use, so that an instance on SQLite does not pay for loading it
// at every start (about 90 ms here).
const requireModule = createRequire(import.meta.url);
let pgModule: typeof pg | undefined;
const loadPg = (): typeof pg => {
  pgModule ??= requireModule("pg") as typeof pg;
  return pgModule;
};

export type Engine = "sqlite" | "postgres";

export interface Database {
  db: Kysely<Schema>;
  engine: Engine;
  /** A short description for logs and `/health/`, without credentials. */
  label: string;
  /** Answers when the database does; throws otherwise. */
  ping(timeoutMs?: number): Promise<void>;
  /**
   * PostgreSQL only: call `onNotify` for each NOTIFY on `channel`, and once after every
   * (re)connection, since notifications sent while disconnected are lost.
   */
  listen?(channel: string, onNotify: () => void, logger?: ListenLogger): Promise<Listener>;
  /**
   * SQLite only: run synchronous work straight on the connection, with no query builder in
   * between, for the engine's busiest statements. Nothing else runs on the connection
   * meanwhile: the work waits for a transaction in progress, and none starts until it returns.
   */
  exclusive?<T>(work: (connection: SqliteConnection) => T): Promise<T>;
  close(): Promise<void>;
}

/** The SQLite connection as `exclusive` lends it. */
export interface SqliteConnection {
  /** A prepared statement, reused by its SQL text. */
  prepare(text: string): SqliteDatabase.Statement;
  /** Run `work` in one write transaction: committed if it returns, rolled back if it throws. */
  transaction<T>(work: () => T): T;
}

export interface Listener {
  close(): Promise<void>;
}

export interface ListenLogger {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

export interface DatabaseOptions {
  /** Connections in the PostgreSQL pool; small hosted databases allow few. */
  poolSize?: number;
  /** Longest a single PostgreSQL statement may run, in milliseconds. */
  statementTimeoutMs?: number;
}

// pg returns int8 (bigint, used for every time column) and numeric as strings by default.
// Times fit a double for another 285,000 years, so parse them as numbers, per pool rather
// than through pg's global parser table, which other code in the process may rely on.
const INT8_OID = 20;
const NUMERIC_OID = 1700;
const pgTypes = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (value: string) => Number(value);
    return loadPg().types.getTypeParser(oid, format ?? "text");
  },
};

/** Open the configured database. Nothing is created in it until migrations run. */
export function openDatabase(config: DatabaseConfig, options: DatabaseOptions = {}): Database {
  if (config.engine === "sqlite") return openSqlite(config.path);
  return openPostgres(config.url, {
    ...(config.poolSize ? { poolSize: config.poolSize } : {}),
    ...(config.statementTimeoutMs ? { statementTimeoutMs: config.statementTimeoutMs } : {}),
    ...options,
  });
}

function openSqlite(file: string): Database {
  if (file !== ":memory:") fs.mkdirSync(path.dirname(file), { recursive: true });
  const connection = new SqliteDatabase(file);

  // WAL lets readers go on while a writer commits; NORMAL sync is durable across a process
  // crash in WAL mode (only a power loss can drop the last commits).
  connection.pragma("journal_mode = WAL");
  connection.pragma("synchronous = NORMAL");
  connection.pragma("busy_timeout = 5000");
  connection.pragma("foreign_keys = ON");

  const cached = withStatementCache(connection);
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: cached }) });
  const prepare = (text: string) => cached.prepare(text) as unknown as SqliteDatabase.Statement;
  const lent: SqliteConnection = {
    prepare,
    // Statements rather than better-sqlite3's transaction(), which builds a new wrapper
    // function (and its variants) on every call: this runs for every claim and completion.
    // IMMEDIATE takes the write lock at once, so another process writing makes this wait
    // (busy_timeout) instead of failing when a read would turn into a write.
    transaction(work) {
      prepare("begin immediate").run();
      try {
        const result = work();
        prepare("commit").run();
        return result;
      } catch (error) {
        if (connection.inTransaction) prepare("rollback").run();
        throw error;
      }
    },
  };
  let closed = false;
  return {
    db,
    engine: "sqlite",
    label: `sqlite:${file}`,
    async ping() {
      await sql`select 1`.execute(db);
    },
    // Kysely hands out its one SQLite connection to one user at a time; holding it is what
    // keeps every other query (and transaction) out while the work runs.
    exclusive: (work) => db.connection().execute(async () => work(lent)),
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}

const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely prepares every query anew; preparing costs as much as running a short statement.
 * Reuse prepared statements by SQL text. Safe because Kysely runs one query at a time on
 * this connection, so no statement is ever in use twice at once.
 */
function withStatementCache(connection: SqliteDatabase.Database): SqliteDialectDatabase {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => connection.close(),
    prepare(text: string) {
      let statement = cache.get(text);
      if (statement) {
        // Refresh its place: the map's order is the eviction order.
        cache.delete(text);
      } else {
        statement = connection.prepare(text);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      }
      cache.set(text, statement);
      return statement as never;
    },
  };
}

function openPostgres(url: string, options: DatabaseOptions): Database {
  const pool = new (loadPg().Pool)({
    connectionString: url,
    max: options.poolSize ?? 10,
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    connectionTimeoutMillis: 10_000,
    application_name: "davus",
    idleTimeoutMillis: 30_000,
    types: pgTypes,
  });

  // An idle client whose connection drops emits 'error' on the pool; without a listener
  // that would crash the process. The pool discards the client and opens a new one.
  pool.on("error", () => {});
  // A client checked out (inside a transaction, between two statements) whose connection
  // is cut emits 'error' with nobody listening, which would crash the process. Its next
  // statement fails instead, as a transient error that is retried, and the pool drops it
  // on release because it is no longer queryable.
  pool.on("connect", (client) => {
    client.on("error", () => {});
  });

  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  let closed = false;
  return {
    db,
    engine: "postgres",
    label: describePostgresUrl(url),
    listen: (channel, onNotify, logger) => listenPostgres(url, channel, onNotify, logger),
    async ping(timeoutMs = 5_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([sql`select 1`.execute(db), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}

const CHANNEL = /^[a-z_][a-z0-9_]*$/;

/**
 * A connection of its own that LISTENs on `channel`. When it drops (a restart, a network
 * blip, pg_terminate_backend) it is opened again with a growing pause, up to 30 s.
 */
async function listenPostgres(
  url: string,
  channel: string,
  onNotify: () => void,
  logger?: ListenLogger,
): Promise<Listener> {
  if (!CHANNEL.test(channel)) throw new Error(`Channel name "${channel}" is not valid.`);
  let client: pg.Client | undefined;
  let closed = false;
  let pauseMs = 250;
  let timer: NodeJS.Timeout | undefined;

  const reconnectSoon = () => {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      connect().catch((error: Error) => {
        logger?.warn({ err: error.message, pauseMs }, "listen connection failed; trying again");
        pauseMs = Math.min(pauseMs * 2, 30_000);
        reconnectSoon();
      });
    }, pauseMs);
    timer.unref();
  };

  const connect = async () => {
    const next = new (loadPg().Client)({ connectionString: url, application_name: "davus-listen" });
    next.on("notification", (message) => {
      if (message.channel === channel) onNotify();
    });
    next.on("error", () => {
      if (client === next) client = undefined;
      reconnectSoon();
    });
    next.on("end", () => {
      if (client === next) client = undefined;
      if (!closed) logger?.warn({ channel }, "listen connection lost; opening it again");
      reconnectSoon();
    });
    await next.connect();
    if (closed) {
      await next.end().catch(() => {});
      return;
    }
    await next.query(`listen ${channel}`);
    client = next;
    pauseMs = 250;
    onNotify();
  };

  await connect().catch((error: Error) => {
    logger?.warn({ err: error.message }, "listen connection failed; trying again");
    reconnectSoon();
  });
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      await client?.end().catch(() => {});
    },
  };
}

/** `postgres://host:port/name`, without the user name or password. */
export function describePostgresUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `postgres://${parsed.hostname}${parsed.port ? `:${parsed.port}` : ""}${parsed.pathname}`;
  } catch {
    return "postgres://(unparsable URL)";
  }
}
