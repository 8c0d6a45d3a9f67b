import { Cron } from "croner";
import type { AnyTask } from "../jobs/task.js";

export type CatchUp = "latest" | "all" | "none";

export interface ScheduleOptions {
  /** Five fields: minute hour day-of-month month day-of-week, read in `timezone`. */
  cron: string;
  /** An IANA zone, such as America/Sao_Paulo. */
  timezone: string;
  task: AnyTask | string;
  /** The payload of each job, made from the slot it fires for. */
  payload?: (slot: Date) => unknown;
  /**
   * What to do with slots missed while no trigger came: `latest` fires only the most recent
   * (the default), `all` fires each, up to `catchUpLimit`, and `none` fires a slot only while
   * it is not yet late.
   */
  catchUp?: CatchUp;
  catchUpLimit?: number;
  /** How long after its slot a trigger may come before the slot counts as late. */
  lateAfterMs?: number;
  /** The workflow file `davus workflow generate` writes for this schedule, without `.yml`. */
  workflow?: string;
}

export interface Schedule {
  name: string;
  cron: string;
  timezone: string;
  taskName: string;
  payload: (slot: Date) => unknown;
  catchUp: CatchUp;
  catchUpLimit: number;
  lateAfterMs: number;
  workflow: string;
  /** The first slot strictly after `time`. */
  nextSlot(time: number): number | undefined;
  /** The slots in (after, until]: the last `keep` of them, oldest first, and how many in all. */
  slotsBetween(after: number, until: number, keep: number): { slots: number[]; total: number };
}

const MAX_SLOTS_SCANNED = 20_000;

const SCHEDULE_NAME = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/;

/**
 * Declare a recurring task.
 *
 * @example
 * defineSchedule("inventory.daily-low-stock", {
 *   cron: "0 7 * * 1-5",
 *   timezone: "America/Sao_Paulo",
 *   task: "inventory.check-low-stock",
 *   payload: (slot) => ({ slot: slot.toISOString() }),
 * });
 */
export function defineSchedule(name: string, options: ScheduleOptions): Schedule {
  if (!SCHEDULE_NAME.test(name)) {
    throw new Error(
      `Schedule name "${name}" is not valid: use lowercase words with dashes, grouped by dots.`,
    );
  }
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: options.timezone });
  } catch {
    throw new Error(
      `Schedule "${name}": \`timezone\` "${options.timezone}" is not a known IANA time zone, such as America/Sao_Paulo.`,
    );
  }
  if (options.cron.trim().split(/\s+/).length !== 5) {
    throw new Error(
      `Schedule "${name}": \`cron\` "${options.cron}" must have five fields (minute hour day month weekday).`,
    );
  }
  let cron: Cron;
  try {
    cron = new Cron(options.cron, { timezone: options.timezone, paused: true });
  } catch (error) {
    throw new Error(
      `Schedule "${name}": \`cron\` "${options.cron}" is not valid: ${(error as Error).message}.`,
    );
  }

  // The last answer of `next` and the times it holds for: every time in [from, slot) has
  // `slot` as its next slot. /health/ and each tick ask for the same slot again and again,
  // and a time-zone aware cron search costs far more than this comparison.
  let known: { from: number; slot: number } | undefined;
  const next = (time: number): number | undefined => {
    if (known && time >= known.from && time < known.slot) return known.slot;
    const slot = cron.nextRun(new Date(time))?.getTime();
    known = slot === undefined ? undefined : { from: time, slot };
    return slot;
  };

  return {
    name,
    cron: options.cron,
    timezone: options.timezone,
    taskName: typeof options.task === "string" ? options.task : options.task.name,
    payload: options.payload ?? ((slot) => ({ slot: slot.toISOString() })),
    catchUp: options.catchUp ?? "latest",
    catchUpLimit: options.catchUpLimit ?? 10,
    lateAfterMs: options.lateAfterMs ?? 2 * 3_600_000,
    workflow: options.workflow ?? name.replace(/\./g, "-"),
    nextSlot: next,
    slotsBetween(after, until, keep) {
      const slots: number[] = [];
      let total = 0;
      // Bounded: a minutely schedule left alone for a week has about 10,000 slots.
      for (let cursor = after; total < MAX_SLOTS_SCANNED; ) {
        const slot = next(cursor);
        if (slot === undefined || slot > until) break;
        total++;
        slots.push(slot);
        if (slots.length > keep) slots.shift();
        cursor = slot;
      }
      // The scan stopped at its bound before `until`: the newest slots come from a search
      // backwards instead, so that `latest` is the real latest after a very long gap.
      if (total >= MAX_SLOTS_SCANNED) {
        const newest = cron
          .previousRuns(keep, new Date(until + 1))
          .map((slot) => slot.getTime())
          .filter((slot) => slot > after)
          .reverse();
        return { slots: newest, total };
      }
      return { slots, total };
    },
  };
}
