import { recordAudit } from "../audit/audit-log.js";
import type { Clock } from "../clock.js";
import { AppError } from "../errors.js";
import type { JobEngine, RunTriggerName } from "../jobs/engine.js";
import { SEND_MAIL_TASK } from "../mail/send-mail-task.js";
import { renderLowStockDigest } from "../mail/templates/low-stock-digest.js";
import { findLowStock } from "./products.js";

/** The zone whose calendar day a digest belongs to: the shop's, in Brazil. */
export const SHOP_TIME_ZONE = "America/Sao_Paulo";

export interface LowStockCheckOptions {
  jobs: JobEngine;
  clock: Clock;
  recipients: string[];
  /** What this digest is for; one digest per recipient and period. Default: the shop's date. */
  period?: string;
  budgetMs?: number;
  trigger?: RunTriggerName;
}

export interface DigestDelivery {
  to: string;
  jobId: number;
  status: "sent" | "already_sent" | "pending" | "failed";
  error?: string;
}

export interface LowStockCheckResult {
  lowProducts: number;
  period: string;
  emailsSent: number;
  emailsPending: number;
  emailsAlreadySent: number;
  emailsFailed: number;
  deliveries: DigestDelivery[];
  /** Why a digest is pending or refused, when one is; undefined when all went out. */
  problem: string | undefined;
}

/**
 * Find the products at or below their minimum and e-mail one digest to each recipient.
 * Each digest is a durable `mail.send` job keyed by period and recipient: it is stored
 * before it is sent, sent at most once per period, and retried later if SMTP is down.
 */
export async function runLowStockCheck(
  options: LowStockCheckOptions,
): Promise<LowStockCheckResult> {
  const { jobs, clock, recipients } = options;
  const period = options.period ?? localDate(clock.now(), SHOP_TIME_ZONE);
  const products = await findLowStock(jobs.database.db);
  const result: LowStockCheckResult = {
    lowProducts: products.length,
    period,
    emailsSent: 0,
    emailsPending: 0,
    emailsAlreadySent: 0,
    emailsFailed: 0,
    deliveries: [],
    problem: undefined,
  };
  if (products.length === 0) {
    audit(jobs, result);
    return result;
  }
  if (recipients.length === 0) {
    throw new AppError(
      "no_recipients",
      `${products.length} products are at or below their minimum, but LOW_STOCK_ALERT_EMAILS is empty: set it to the addresses that should get the digest.`,
      { status: 500 },
    );
  }

  const digest = renderLowStockDigest(
    products.map((p) => ({
      sku: p.sku,
      name: p.name,
      unit: p.unit,
      quantity: p.quantity,
      minQuantity: p.min_quantity,
    })),
    period.slice(0, 10),
  );
  const enqueued = await jobs.transaction(async (trx) =>
    Promise.all(
      recipients.map(async (to) => {
        const messageKey = `low-stock:${period}:${to}`;
        const job = await jobs.enqueue(
          SEND_MAIL_TASK,
          { to, subject: digest.subject, text: digest.text, html: digest.html, messageKey },
          { db: trx, uniqueKey: messageKey },
        );
        return { to, job };
      }),
    ),
  );

  const toRun = enqueued.filter(({ job }) => job.status !== "succeeded").map(({ job }) => job.id);
  const drained = await jobs.drain({
    jobIds: toRun,
    budgetMs: options.budgetMs ?? 20_000,
    trigger: options.trigger ?? "http",
  });
  const outcomes = new Map(drained.outcomes.map((outcome) => [outcome.jobId, outcome]));

  // A digest another request (or instance) is sending right now has no outcome here: wait
  // for its end in the table, a little, rather than call it pending.
  const elsewhere = enqueued.filter(
    ({ job }) => job.status !== "succeeded" && !outcomes.has(job.id),
  );
  const ended = await waitForJobs(
    jobs,
    elsewhere.map(({ job }) => job.id),
    ELSEWHERE_WAIT_MS,
  );

  for (const { to, job } of enqueued) {
    const outcome = outcomes.get(job.id);
    const state = outcome?.outcome ?? ended.get(job.id)?.status;
    const error = outcome?.error ?? ended.get(job.id)?.last_error ?? undefined;
    let delivery: DigestDelivery;
    // A digest that was already being sent when this call found it counts as sent by the
    // call that was sending it, so that concurrent checks do not each count the message.
    const sentByAnother = !job.created && job.status === "running";
    if (job.status === "succeeded" || (state === "succeeded" && sentByAnother)) {
      delivery = { to, jobId: job.id, status: "already_sent" };
    } else if (state === "succeeded") delivery = { to, jobId: job.id, status: "sent" };
    else if (state === "dead")
      delivery = { to, jobId: job.id, status: "failed", error: error ?? "" };
    else delivery = { to, jobId: job.id, status: "pending", ...(error ? { error } : {}) };
    result.deliveries.push(delivery);
  }
  result.emailsSent = result.deliveries.filter((d) => d.status === "sent").length;
  result.emailsPending = result.deliveries.filter((d) => d.status === "pending").length;
  result.emailsAlreadySent = result.deliveries.filter((d) => d.status === "already_sent").length;
  result.emailsFailed = result.deliveries.filter((d) => d.status === "failed").length;
  const unsent = result.deliveries.filter((d) => d.status === "pending" || d.status === "failed");
  if (unsent.length > 0) {
    result.problem = unsent.find((d) => d.error)?.error ?? "delivery did not finish in time";
  }
  audit(jobs, result);
  return result;
}

function audit(jobs: JobEngine, result: LowStockCheckResult): void {
  recordAudit(jobs, "inventory.check-low-stock", {
    period: result.period,
    lowProducts: result.lowProducts,
    emailsSent: result.emailsSent,
    emailsPending: result.emailsPending,
    emailsAlreadySent: result.emailsAlreadySent,
    emailsFailed: result.emailsFailed,
  });
}

const ELSEWHERE_WAIT_MS = 10_000;

/** Poll the jobs until none is running, or the time is up; returns their last states. */
async function waitForJobs(jobs: JobEngine, ids: number[], timeoutMs: number) {
  const states = new Map<number, { status: string; last_error: string | null }>();
  if (ids.length === 0) return states;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await jobs.database.db
      .selectFrom("jobs")
      .select(["id", "status", "last_error"])
      .where("id", "in", ids)
      .execute();
    for (const row of rows) states.set(row.id, row);
    if (rows.every((row) => row.status !== "running") || Date.now() > deadline) return states;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The calendar date at `time` in `timeZone`, as YYYY-MM-DD. */
export function localDate(time: number, timeZone: string): string {
  return new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).format(time);
}
