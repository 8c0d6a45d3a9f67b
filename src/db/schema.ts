import type { Generated, Insertable, Selectable } from "kysely";

/**
 * The tables, as Kysely sees them. Every time is an integer of milliseconds since the
 * epoch (UTC) on both engines: comparisons are plain integer comparisons, with no time
 * zone or driver conversion in between.
 */
export interface Schema {
  products: ProductsTable;
  jobs: JobsTable;
  job_runs: JobRunsTable;
  audit_log: AuditLogTable;
  schedules: SchedulesTable;
  trigger_signatures: TriggerSignaturesTable;
}

export interface TriggerSignaturesTable {
  signature: string;
  seen_at: number;
}

export interface ProductsTable {
  id: Generated<number>;
  sku: string;
  name: string;
  unit: string;
  quantity: number;
  min_quantity: number;
  updated_at: number;
}

export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "dead";

export interface JobsTable {
  id: Generated<number>;
  task: string;
  payload: string;
  status: JobStatus;
  priority: number;
  run_at: number;
  attempts: number;
  max_attempts: number;
  unique_key: string | null;
  locked_by: string | null;
  locked_until: number | null;
  /** When the current or last attempt started; lets a reclaim record the lost attempt. */
  started_at: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

export type RunOutcome = "succeeded" | "failed" | "dead" | "released" | "lost";
export type RunTrigger = "inline" | "timer" | "notify" | "trigger" | "cli" | "http";

export interface JobRunsTable {
  id: Generated<number>;
  job_id: number;
  task: string;
  attempt: number;
  started_at: number;
  finished_at: number | null;
  duration_ms: number | null;
  outcome: RunOutcome;
  error: string | null;
  trigger: RunTrigger;
  worker: string;
}

export interface AuditLogTable {
  id: Generated<number>;
  action: string;
  detail: string;
  created_at: number;
}

export interface SchedulesTable {
  name: string;
  last_slot_at: number | null;
  last_fired_at: number | null;
  last_trigger_at: number | null;
  last_alert_slot_at: number | null;
  updated_at: number;
}

export type Job = Selectable<JobsTable>;
export type NewJob = Insertable<JobsTable>;
export type Product = Selectable<ProductsTable>;
