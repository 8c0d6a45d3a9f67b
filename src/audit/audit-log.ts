import type { Kysely } from "kysely";
import * as z from "zod";
import type { Clock } from "../clock.js";
import type { Schema } from "../db/schema.js";
import { defineTask, type TaskDefinition } from "../jobs/task.js";

export const AUDIT_TASK = "audit.record";

export interface AuditEntry {
  action: string;
  detail: Record<string, unknown>;
}

/**
 * The audit log is written by an inline task: after the response, best effort. A line
 * lost to a crash costs a line of history, never the business change it describes.
 */
export function createAuditTask(clock: Clock): TaskDefinition<AuditEntry> {
  return defineTask<AuditEntry>({
    name: AUDIT_TASK,
    durable: false,
    payload: z.object({ action: z.string().min(1), detail: z.record(z.string(), z.unknown()) }),
    handler: async ({ payload, db }) => {
      await db
        .insertInto("audit_log")
        .values({
          action: payload.action,
          detail: JSON.stringify(payload.detail),
          created_at: clock.now(),
        })
        .execute();
    },
  });
}

export interface AuditLine {
  id: number;
  action: string;
  detail: Record<string, unknown>;
  createdAt: string;
}

export async function readAuditLog(db: Kysely<Schema>, limit = 50): Promise<AuditLine[]> {
  const rows = await db
    .selectFrom("audit_log")
    .selectAll()
    .orderBy("id", "desc")
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    id: row.id,
    action: row.action,
    detail: JSON.parse(row.detail) as Record<string, unknown>,
    createdAt: new Date(row.created_at).toISOString(),
  }));
}

/** Record an audit line after the current work, best effort. */
export function recordAudit(
  jobs: {
    getTask(name: string): TaskDefinition<unknown> | undefined;
    runInline<P>(task: TaskDefinition<P>, payload: P): boolean;
  },
  action: string,
  detail: Record<string, unknown>,
): void {
  const task = jobs.getTask(AUDIT_TASK) as TaskDefinition<AuditEntry> | undefined;
  if (task) jobs.runInline(task, { action, detail });
}
