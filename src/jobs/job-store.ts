import type { Insertable } from "kysely";
import { type Kysely, sql } from "kysely";
import type { Database, SqliteConnection } from "../db/database.js";
import type { Job, JobRunsTable, JobStatus, Schema } from "../db/schema.js";

/**
 * Every statement the engine runs against `jobs` and `job_runs`. Each write that ends or
 * extends an attempt is conditional on `locked_by`: a process that lost its lease can
 * never overwrite what the new holder does.
 */

export interface ClaimedJob extends Job {
  /** The status before this claim: "running" means a previous holder's lease expired. */
  previous_status: JobStatus;
  previous_started_at: number | null;
  previous_locked_by: string | null;
}

export interface NewJobRow {
  task: string;
  payload: string;
  priority: number;
  runAt: number;
  maxAttempts: number;
  uniqueKey: string | null;
  /** Set when the enqueuing process takes the job for itself at once (inline-first). */
  lease: { worker: string; until: number } | null;
}

export interface InsertedJob {
  id: number;
  created: boolean;
  status: JobStatus;
}

type Db = Kysely<Schema>;

export async function insertJob(db: Db, row: NewJobRow, now: number): Promise<InsertedJob> {
  const inserted = await db
    .insertInto("jobs")
    .values({
      task: row.task,
      payload: row.payload,
      status: row.lease ? "running" : "queued",
      priority: row.priority,
      run_at: row.runAt,
      attempts: row.lease ? 1 : 0,
      max_attempts: row.maxAttempts,
      unique_key: row.uniqueKey,
      locked_by: row.lease?.worker ?? null,
      locked_until: row.lease?.until ?? null,
      started_at: row.lease ? now : null,
      created_at: now,
      updated_at: now,
    })
    .onConflict((conflict) =>
      conflict
        .column("unique_key")
        // Must repeat the index's predicate word for word, literal included: SQLite matches
        // a partial index to the conflict target by its text, and a bound parameter fails.
        .where(sql<boolean>`unique_key is not null and status <> 'dead'`)
        .doNothing(),
    )
    .returning(["id", "status"])
    .executeTakeFirst();
  if (inserted) return { id: inserted.id, created: true, status: inserted.status };

  const existing = await db
    .selectFrom("jobs")
    .select(["id", "status"])
    .where("unique_key", "=", row.uniqueKey)
    .where("status", "<>", "dead")
    .executeTakeFirst();
  if (!existing) {
    // The holder of the key died between our insert and this read; try once more.
    return insertJob(db, row, now);
  }
  return { id: existing.id, created: false, status: existing.status };
}

/** Insert many jobs without unique keys, in chunks; returns their ids in order. */
export async function insertJobs(db: Db, rows: NewJobRow[], now: number): Promise<number[]> {
  const ids: number[] = [];
  for (let start = 0; start < rows.length; start += 500) {
    const chunk = rows.slice(start, start + 500);
    const inserted = await db
      .insertInto("jobs")
      .values(
        chunk.map((row) => ({
          task: row.task,
          payload: row.payload,
          status: "queued" as const,
          priority: row.priority,
          run_at: row.runAt,
          attempts: 0,
          max_attempts: row.maxAttempts,
          unique_key: row.uniqueKey,
          created_at: now,
          updated_at: now,
        })),
      )
      .returning("id")
      .execute();
    ids.push(...inserted.map((job) => job.id));
  }
  return ids;
}

export interface ClaimRequest {
  worker: string;
  now: number;
  leaseMs: number;
  limit: number;
  /** Only these jobs, when given (to run the jobs a request just enqueued). */
  ids?: number[];
}

/**
 * Take up to `limit` due jobs: queued or failed ones whose time has come, and running ones
 * whose lease has expired. Highest priority first, then oldest.
 */
export async function claimJobs(database: Database, request: ClaimRequest): Promise<ClaimedJob[]> {
  if (request.limit <= 0 || request.ids?.length === 0) return [];
  if (database.exclusive) {
    return database.exclusive((connection) => claimSqlite(connection, request));
  }
  const { worker, now, leaseMs, limit, ids } = request;

  // One statement: concurrent claimers skip each other's rows instead of waiting. Two
  // searches, each served by its own partial index (an OR of both would scan the table):
  // leases that expired, then queued or failed jobs whose time has come. Jobs asked for by
  // id run now even if a retry was scheduled later: the caller asked for them. The update
  // finds its rows by id through an array, so the planner probes the primary key instead
  // of joining (and scanning) the whole table.
  const only = ids ? sql`and id = any(${ids}::bigint[])` : sql``;
  const result = await sql<ClaimedJob>`
    with expired as (
      select id, started_at, locked_by
      from jobs where status = 'running' and locked_until < ${now} ${only}
      order by locked_until limit ${limit}
      for update skip locked
    ), due as (
      select id
      from jobs where status in ('queued', 'failed') ${ids ? only : sql`and run_at <= ${now}`}
      order by priority desc, run_at, id limit ${limit}
      for update skip locked
    ), picked as (
      select id from expired union all select id from due limit ${limit}
    )
    update jobs set status = 'running', attempts = jobs.attempts + 1, locked_by = ${worker},
      locked_until = ${now + leaseMs}, started_at = ${now}, updated_at = ${now}
    where jobs.id = any(array(select id from picked))
    returning jobs.*,
      case when jobs.id = any(array(select id from expired)) then 'running' else 'queued' end
        as previous_status,
      (select e.started_at from expired e where e.id = jobs.id) as previous_started_at,
      (select e.locked_by from expired e where e.id = jobs.id) as previous_locked_by`.execute(
    database.db,
  );
  return result.rows.sort(byClaimOrder);
}

type Picked = Pick<ClaimedJob, "previous_status" | "previous_started_at" | "previous_locked_by"> & {
  id: number;
};

const PICKED = `id, status as previous_status, started_at as previous_started_at,
  locked_by as previous_locked_by`;
const PICK_EXPIRED = `select ${PICKED} from jobs
  where status = 'running' and locked_until < ? order by locked_until limit ?`;
const PICK_BY_ID = `select ${PICKED} from jobs
  where id = ? and (status = 'running' and locked_until < ? or status in ('queued', 'failed'))`;
const CLAIMED = `status = 'running', attempts = attempts + 1, locked_by = ?, locked_until = ?,
  started_at = ?, updated_at = ?`;
const CLAIM_ONE = `update jobs set ${CLAIMED} where id = ? returning *`;
const CLAIM_DUE = `update jobs set ${CLAIMED} where id in (
  select id from jobs where status in ('queued', 'failed') and run_at <= ?
  order by priority desc, run_at, id limit ?) returning *`;

/**
 * SQLite has one writer at a time, so one transaction makes the searches and the updates
 * atomic; each statement has a fixed text, so each is prepared once. The same two searches
 * as on PostgreSQL, each on its partial index.
 */
function claimSqlite(connection: SqliteConnection, request: ClaimRequest): ClaimedJob[] {
  const { worker, now, leaseMs, limit, ids } = request;
  return connection.transaction(() => {
    const claim = connection.prepare(CLAIM_ONE);
    const claimPicked = (picked: Picked[]): ClaimedJob[] =>
      picked.map((row) =>
        Object.assign(claim.get(worker, now + leaseMs, now, now, row.id) as Job, {
          previous_status: row.previous_status,
          previous_started_at: row.previous_started_at,
          previous_locked_by: row.previous_locked_by,
        }),
      );

    if (ids) {
      const byId = connection.prepare(PICK_BY_ID);
      const found = ids.flatMap((id) => (byId.get(id, now) as Picked | undefined) ?? []);
      const expiredFirst = [
        ...found.filter((row) => row.previous_status === "running"),
        ...found.filter((row) => row.previous_status !== "running"),
      ];
      return claimPicked(expiredFirst.slice(0, limit)).sort(byClaimOrder);
    }

    // Expired leases are rare and need their previous holder recorded, one by one; due jobs
    // are the bulk, claimed in one statement.
    const claimed = claimPicked(connection.prepare(PICK_EXPIRED).all(now, limit) as Picked[]);
    if (claimed.length < limit) {
      const due = connection
        .prepare(CLAIM_DUE)
        .all(worker, now + leaseMs, now, now, now, limit - claimed.length) as Job[];
      for (const job of due) {
        // Each row is a new object from the driver: completed in place, not copied.
        const fresh = job as ClaimedJob;
        fresh.previous_status = "queued";
        fresh.previous_started_at = null;
        fresh.previous_locked_by = null;
        claimed.push(fresh);
      }
    }
    return claimed.sort(byClaimOrder);
  });
}

function byClaimOrder(a: Job, b: Job): number {
  return b.priority - a.priority || a.run_at - b.run_at || a.id - b.id;
}

export type Completion =
  | { kind: "succeeded"; job: Job; run: Insertable<JobRunsTable> }
  | { kind: "failed"; job: Job; run: Insertable<JobRunsTable>; retryAt: number; error: string }
  | { kind: "dead"; job: Job; run: Insertable<JobRunsTable>; error: string };

/**
 * Write the end of many attempts in one transaction. Returns the ids whose lease this
 * worker no longer held: their outcome was not written, another holder owns them now.
 */
export async function writeCompletions(
  database: Database,
  worker: string,
  completions: Completion[],
  now: number,
): Promise<Set<number>> {
  if (completions.length === 0) return new Set();
  return database.exclusive
    ? database.exclusive((connection) =>
        writeCompletionsSqlite(connection, worker, completions, now),
      )
    : writeCompletionsPostgres(database.db, worker, completions, now);
}

/**
 * PostgreSQL: one statement, whatever the number of completions: the outcomes travel as
 * arrays, the jobs are updated and their runs recorded in the same round trip, and the plan
 * is the same for every batch.
 */
async function writeCompletionsPostgres(
  db: Db,
  worker: string,
  completions: Completion[],
  now: number,
): Promise<Set<number>> {
  const column = <T>(pick: (c: Completion) => T) => completions.map(pick);
  const result = await sql<{ id: number }>`
    with input as (
      select * from unnest(
        ${column((c) => c.job.id)}::bigint[],
        ${column((c) => c.kind)}::text[],
        ${column((c) => (c.kind === "failed" ? c.retryAt : null))}::bigint[],
        ${column((c) => (c.kind === "succeeded" ? null : c.error))}::text[],
        ${column((c) => c.run.task)}::text[],
        ${column((c) => c.run.attempt)}::int[],
        ${column((c) => c.run.started_at)}::bigint[],
        ${column((c) => c.run.finished_at ?? now)}::bigint[],
        ${column((c) => c.run.duration_ms ?? null)}::int[],
        ${column((c) => c.run.trigger)}::text[]
      ) as t(id, kind, retry_at, error, task, attempt, started_at, finished_at, duration_ms, trigger)
    ), done as (
      update jobs set
        status = input.kind,
        run_at = coalesce(input.retry_at, jobs.run_at),
        locked_by = null,
        locked_until = null,
        last_error = input.error,
        finished_at = case when input.kind = 'failed' then null else ${now}::bigint end,
        updated_at = ${now}
      from input
      where jobs.id = input.id and jobs.locked_by = ${worker} and jobs.status = 'running'
      returning jobs.id
    ), runs as (
      insert into job_runs
        (job_id, task, attempt, started_at, finished_at, duration_ms, outcome, error, trigger, worker)
      select input.id, input.task, input.attempt, input.started_at, input.finished_at,
        input.duration_ms, input.kind, input.error, input.trigger, ${worker}
      from input join done on done.id = input.id
    )
    select id from done`.execute(db);
  const written = new Set(result.rows.map((row) => Number(row.id)));
  return new Set(completions.map((c) => c.job.id).filter((id) => !written.has(id)));
}

const END_ATTEMPT = `update jobs set status = ?, run_at = coalesce(?, run_at), locked_by = null,
  locked_until = null, last_error = ?, finished_at = ?, updated_at = ?
  where id = ? and locked_by = ? and status = 'running'`;
const RECORD_RUN = `insert into job_runs
  (job_id, task, attempt, started_at, finished_at, duration_ms, outcome, error, trigger, worker)
  values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/**
 * The statements of a no-op job's life on SQLite after its insert, for the benchmark's floor
 * (the same writes, straight through better-sqlite3). Parameters in order:
 * claimDue (worker, lockedUntil, now, now, now, limit), endAttempt (status, retryAt, error,
 * finishedAt, now, id, worker), recordRun (job_id, task, attempt, started_at, finished_at,
 * duration_ms, outcome, error, trigger, worker).
 */
export const SQLITE_JOB_STATEMENTS = {
  claimDue: CLAIM_DUE,
  endAttempt: END_ATTEMPT,
  recordRun: RECORD_RUN,
} as const;

/** SQLite: one transaction, two prepared statements per completion. */
function writeCompletionsSqlite(
  connection: SqliteConnection,
  worker: string,
  completions: Completion[],
  now: number,
): Set<number> {
  return connection.transaction(() => {
    const end = connection.prepare(END_ATTEMPT);
    const record = connection.prepare(RECORD_RUN);
    const lost = new Set<number>();
    for (const c of completions) {
      const written = end.run(
        c.kind,
        c.kind === "failed" ? c.retryAt : null,
        c.kind === "succeeded" ? null : c.error,
        c.kind === "failed" ? null : now,
        now,
        c.job.id,
        worker,
      ).changes;
      if (written === 0) {
        lost.add(c.job.id);
        continue;
      }
      const run = c.run;
      record.run(
        run.job_id,
        run.task,
        run.attempt,
        run.started_at,
        run.finished_at ?? now,
        run.duration_ms ?? null,
        run.outcome,
        run.error ?? null,
        run.trigger,
        run.worker,
      );
    }
    return lost;
  });
}

/**
 * Extend the leases of the jobs this worker holds in memory; returns the ids it still holds.
 * Only those ids: a claim whose answer was lost with its connection is not renewed, so its
 * lease expires and another drain takes the job.
 */
export async function renewLeases(
  db: Db,
  worker: string,
  ids: number[],
  until: number,
  now: number,
): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .updateTable("jobs")
    .set({ locked_until: until, updated_at: now })
    .where("id", "in", ids)
    .where("locked_by", "=", worker)
    .where("status", "=", "running")
    .returning("id")
    .execute();
  return new Set(rows.map((row) => row.id));
}

/**
 * Give jobs back to the queue, due at once. `unstarted` jobs were claimed but never ran, so
 * their attempt is not counted; the others ran and were cut short, and it is.
 */
export async function releaseJobs(
  db: Db,
  worker: string,
  jobs: { id: number; started: boolean }[],
  now: number,
): Promise<Job[]> {
  if (jobs.length === 0) return [];
  const released: Job[] = [];
  for (const started of [true, false]) {
    const ids = jobs.filter((job) => job.started === started).map((job) => job.id);
    if (ids.length === 0) continue;
    const rows = await db
      .updateTable("jobs")
      .set((eb) => ({
        status: "queued",
        attempts: started ? eb.ref("attempts") : eb("attempts", "-", 1),
        locked_by: null,
        locked_until: null,
        run_at: now,
        updated_at: now,
      }))
      .where("id", "in", ids)
      .where("locked_by", "=", worker)
      .where("status", "=", "running")
      .returningAll()
      .execute();
    released.push(...rows);
  }
  return released;
}

export async function insertRuns(db: Db, runs: Insertable<JobRunsTable>[]): Promise<void> {
  if (runs.length > 0) await db.insertInto("job_runs").values(runs).execute();
}

/** Jobs that a drain could take now. */
export async function countDue(database: Database, now: number): Promise<number> {
  if (database.exclusive) {
    // SQLite's planner reads a count without ORDER BY as a scan of the whole table, finished
    // jobs included (1 ms per 10,000 rows, on every tick); the partial index holds only the
    // waiting ones.
    return database.exclusive((connection) => {
      const due = connection.prepare(COUNT_DUE).get(now) as { count: number };
      const expired = connection.prepare(COUNT_EXPIRED).get(now) as { count: number };
      return due.count + expired.count;
    });
  }
  const count = async (where: ReturnType<typeof sql>) => {
    const result = await sql<{
      count: number;
    }>`select count(*) as count from jobs where ${where}`.execute(database.db);
    return Number(result.rows[0]?.count ?? 0);
  };
  return (
    (await count(sql`status in ('queued', 'failed') and run_at <= ${now}`)) +
    (await count(sql`status = 'running' and locked_until < ${now}`))
  );
}

const COUNT_DUE = `select count(*) as count from jobs indexed by jobs_due
  where status in ('queued', 'failed') and run_at <= ?`;
const COUNT_EXPIRED = `select count(*) as count from jobs indexed by jobs_leases
  where status = 'running' and locked_until < ?`;

/** Put a dead job back in the queue with a fresh set of attempts. */
export async function retryDeadJob(db: Db, id: number, now: number): Promise<Job | undefined> {
  return db
    .updateTable("jobs")
    .set({ status: "queued", attempts: 0, run_at: now, finished_at: null, updated_at: now })
    .where("id", "=", id)
    .where("status", "=", "dead")
    .returningAll()
    .executeTakeFirst();
}

/** Delete up to `limit` succeeded jobs finished before `cutoff`, with their runs. */
export async function pruneSucceeded(db: Db, cutoff: number, limit: number): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const old = await trx
      .selectFrom("jobs")
      .select("id")
      .where("status", "=", "succeeded")
      .where("finished_at", "<", cutoff)
      .limit(limit)
      .execute();
    if (old.length === 0) return 0;
    const ids = old.map((row) => row.id);
    await trx.deleteFrom("job_runs").where("job_id", "in", ids).execute();
    await trx.deleteFrom("jobs").where("id", "in", ids).execute();
    return ids.length;
  });
}
