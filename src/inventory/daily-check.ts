import * as z from "zod";
import type { Clock } from "../clock.js";
import { AppError } from "../errors.js";
import type { JobEngine } from "../jobs/engine.js";
import { defineTask, type TaskDefinition } from "../jobs/task.js";
import { defineSchedule } from "../schedules/schedule.js";
import { localDate, runLowStockCheck, SHOP_TIME_ZONE } from "./low-stock.js";

export const CHECK_LOW_STOCK_TASK = "inventory.check-low-stock";

export interface CheckLowStockPayload {
  /** The slot (or the moment, for a run by hand) the check is for. */
  slot: string;
}

/**
 * The low-stock check as a durable task. The digest is keyed by the shop's date of the slot,
 * so two triggers for one slot, or a slot and a check by hand on the same day, send one.
 */
export function createCheckLowStockTask(deps: {
  jobs: JobEngine;
  clock: Clock;
  recipients: string[];
}): TaskDefinition<CheckLowStockPayload> {
  return defineTask<CheckLowStockPayload>({
    name: CHECK_LOW_STOCK_TASK,
    payload: z.object({ slot: z.iso.datetime() }),
    maxAttempts: 5,
    // A retry runs the pending digests again at once; space the retries like the outbox's.
    backoff: { baseMs: 60_000, capMs: 2 * 3_600_000 },
    timeoutMs: 120_000,
    handler: async ({ payload }) => {
      const result = await runLowStockCheck({
        jobs: deps.jobs,
        clock: deps.clock,
        recipients: deps.recipients,
        period: localDate(Date.parse(payload.slot), SHOP_TIME_ZONE),
        trigger: "trigger",
      });
      // The digests are queued either way; failing this attempt is what makes the tick
      // (and so the cron run) report the trouble instead of a success.
      if (result.problem !== undefined) {
        throw new AppError(
          result.emailsFailed > 0 ? "mail_failed" : "mail_pending",
          `${result.emailsPending} digests pending and ${result.emailsFailed} refused: ${result.problem}`,
          { retryable: result.emailsFailed === 0 },
        );
      }
    },
  });
}

/** Weekdays at 07:00 in Brazil (10:00 UTC), as the seed's cron ran it. */
export const dailyLowStockSchedule = defineSchedule("inventory.daily-low-stock", {
  cron: "0 7 * * 1-5",
  timezone: SHOP_TIME_ZONE,
  task: CHECK_LOW_STOCK_TASK,
  payload: (slot) => ({ slot: slot.toISOString() }),
  catchUp: "latest",
  workflow: "daily_checks",
});
