import type { Kysely } from "kysely";
import type { Clock } from "../clock.js";
import type { RunTrigger, Schema } from "../db/schema.js";
import { describeError } from "../errors.js";
import type { JobEngine } from "../jobs/engine.js";
import type { Logger } from "../logger.js";
import type { Schedule } from "./schedule.js";

export interface FiredSlot {
  schedule: string;
  slot: string;
  jobId: number;
  /** How long after its slot it fired. */
  lateByMs: number;
}

export interface LateSlot {
  slot: string;
  lateByMs: number;
}

/** Slots that came late or never, found by one trigger; the alert is sent once per gap. */
export interface LateReport {
  schedule: string;
  cron: string;
  timezone: string;
  /** The late slots, most recent last (at most 20 listed). */
  slots: LateSlot[];
  total: number;
  triggerAt: string;
}

export interface FireResult {
  fired: FiredSlot[];
  /** Missed slots not fired, by the schedule's catch-up policy. */
  skipped: { schedule: string; count: number; catchUp: string }[];
  late: LateReport[];
}

export interface ScheduleStatus {
  name: string;
  cron: string;
  timezone: string;
  task: string;
  catchUp: string;
  lastSlot: string | null;
  lastFiredAt: string | null;
  nextSlot: string | null;
  /** True when a slot passed more than `lateAfterMs` ago and no trigger fired it. */
  overdue: boolean;
  /** The oldest slot still waiting for a trigger, when overdue. */
  overdueSince: string | null;
  overdueSlots: number;
}

export interface SchedulerStatus {
  lastTriggerAt: string | null;
  overdue: string[];
  schedules: ScheduleStatus[];
}

export interface SchedulerOptions {
  db: Kysely<Schema>;
  jobs: JobEngine;
  clock: Clock;
  logger: Logger;
  schedules: Schedule[];
  /**
   * Called inside the transaction that fires late slots, so the alert is stored if and
   * only if the slots are; it should enqueue, not send.
   */
  onLate?: (report: LateReport, trx: Kysely<Schema>) => Promise<void>;
}

const iso = (time: number) => new Date(time).toISOString();

/**
 * Fires schedule slots as jobs. Each slot is fired once: the slot's job has a unique key
 * (`schedule:<name>:<slot>`), and `schedules.last_slot_at` only moves forward, by a
 * compare-and-set, so concurrent triggers (or several instances) agree on who fired it.
 */
export class Scheduler {
  private readonly byName: Map<string, Schedule>;

  constructor(private readonly options: SchedulerOptions) {
    this.byName = new Map(options.schedules.map((schedule) => [schedule.name, schedule]));
    if (this.byName.size !== options.schedules.length)
      throw new Error("Two schedules share a name.");
    for (const schedule of options.schedules) {
      if (!options.jobs.getTask(schedule.taskName)) {
        throw new Error(
          `Schedule "${schedule.name}" names task "${schedule.taskName}", which is not registered.`,
        );
      }
    }
  }

  get schedules(): Schedule[] {
    return [...this.byName.values()];
  }

  get(name: string): Schedule | undefined {
    return this.byName.get(name);
  }

  /**
   * Record every schedule. A schedule seen for the first time starts from now: it fires
   * from its next slot on, not for slots before it existed.
   */
  async init(): Promise<void> {
    const now = this.options.clock.now();
    for (const schedule of this.byName.values()) {
      await this.options.db
        .insertInto("schedules")
        .values({ name: schedule.name, last_slot_at: now, updated_at: now })
        .onConflict((conflict) => conflict.column("name").doNothing())
        .execute();
    }
  }

  /** Fire the slots that are due. `trigger` records an external trigger's arrival. */
  async fireDue(trigger: RunTrigger): Promise<FireResult> {
    const { db, clock, jobs, logger } = this.options;
    const now = clock.now();
    const result: FireResult = { fired: [], skipped: [], late: [] };
    if (trigger === "trigger") {
      await db.updateTable("schedules").set({ last_trigger_at: now, updated_at: now }).execute();
    }

    const states = await db.selectFrom("schedules").selectAll().execute();
    for (const state of states) {
      const schedule = this.byName.get(state.name);
      if (!schedule) continue;
      const since = state.last_slot_at ?? now;
      const keep = Math.max(schedule.catchUpLimit, 20);
      const missed = schedule.slotsBetween(since, now, keep);
      if (missed.total === 0) continue;

      const latest = missed.slots.at(-1) as number;
      const toFire =
        schedule.catchUp === "all"
          ? missed.slots.slice(-schedule.catchUpLimit)
          : schedule.catchUp === "latest" || now - latest <= schedule.lateAfterMs
            ? [latest]
            : [];
      const lateSlots = missed.slots.filter((slot) => now - slot > schedule.lateAfterMs);
      const alertDue =
        lateSlots.length > 0 && (state.last_alert_slot_at ?? 0) < (lateSlots.at(-1) as number);

      try {
        // A plain transaction, not jobs.transaction(): the slot's job is left queued for the
        // drain that follows, so the caller's drain runs it and reports its outcome.
        const fired = await db.transaction().execute(async (trx) => {
          // Compare-and-set: only the trigger that moves the schedule forward fires it.
          const moved = await trx
            .updateTable("schedules")
            .set({
              last_slot_at: latest,
              last_fired_at: now,
              updated_at: now,
              ...(alertDue ? { last_alert_slot_at: lateSlots.at(-1) as number } : {}),
            })
            .where("name", "=", schedule.name)
            .where((eb) =>
              state.last_slot_at === null
                ? eb("last_slot_at", "is", null)
                : eb("last_slot_at", "=", state.last_slot_at),
            )
            .executeTakeFirst();
          if (Number(moved.numUpdatedRows) === 0) return undefined;

          const firedNow: FiredSlot[] = [];
          for (const slot of toFire) {
            const job = await jobs.enqueue(schedule.taskName, schedule.payload(new Date(slot)), {
              db: trx,
              uniqueKey: `schedule:${schedule.name}:${iso(slot)}`,
              notify: false,
            });
            if (job.created) {
              firedNow.push({
                schedule: schedule.name,
                slot: iso(slot),
                jobId: job.id,
                lateByMs: now - slot,
              });
            }
          }
          if (alertDue) {
            const report: LateReport = {
              schedule: schedule.name,
              cron: schedule.cron,
              timezone: schedule.timezone,
              slots: lateSlots
                .slice(-20)
                .map((slot) => ({ slot: iso(slot), lateByMs: now - slot })),
              total: missed.total - (missed.slots.length - lateSlots.length),
              triggerAt: iso(now),
            };
            await this.options.onLate?.(report, trx);
            result.late.push(report);
          }
          return firedNow;
        });
        if (!fired) continue;
        result.fired.push(...fired);
        if (missed.total > toFire.length) {
          result.skipped.push({
            schedule: schedule.name,
            count: missed.total - toFire.length,
            catchUp: schedule.catchUp,
          });
        }
      } catch (error) {
        logger.error(
          { schedule: schedule.name, err: describeError(error) },
          "could not fire schedule",
        );
      }
    }

    for (const slot of result.fired) {
      logger.info(
        {
          schedule: slot.schedule,
          slot: slot.slot,
          jobId: slot.jobId,
          lateByMs: slot.lateByMs,
          trigger,
        },
        "slot fired",
      );
    }
    for (const report of result.late) {
      logger.warn(
        { schedule: report.schedule, lateSlots: report.total },
        "slots came late: the external cron may be delayed or disabled",
      );
    }
    return result;
  }

  /** Each schedule's last and next slot, and whether a trigger is overdue. */
  async status(): Promise<SchedulerStatus> {
    const now = this.options.clock.now();
    const states = await this.options.db.selectFrom("schedules").selectAll().execute();
    const stateByName = new Map(states.map((state) => [state.name, state]));
    const schedules: ScheduleStatus[] = [];
    let lastTriggerAt: number | null = null;

    for (const schedule of this.byName.values()) {
      const state = stateByName.get(schedule.name);
      if (
        state?.last_trigger_at &&
        (lastTriggerAt === null || state.last_trigger_at > lastTriggerAt)
      ) {
        lastTriggerAt = state.last_trigger_at;
      }
      const since = state?.last_slot_at ?? now;
      const firstWaiting = schedule.nextSlot(since);
      const overdue = firstWaiting !== undefined && firstWaiting + schedule.lateAfterMs < now;
      // Counting the waiting slots walks them one by one: only an overdue schedule needs it.
      const waiting = overdue ? schedule.slotsBetween(since, now, 0).total : 0;
      const next = schedule.nextSlot(now);
      schedules.push({
        name: schedule.name,
        cron: schedule.cron,
        timezone: schedule.timezone,
        task: schedule.taskName,
        catchUp: schedule.catchUp,
        lastSlot: state?.last_slot_at ? iso(state.last_slot_at) : null,
        lastFiredAt: state?.last_fired_at ? iso(state.last_fired_at) : null,
        nextSlot: next === undefined ? null : iso(next),
        overdue,
        overdueSince: overdue && firstWaiting !== undefined ? iso(firstWaiting) : null,
        overdueSlots: waiting,
      });
    }
    return {
      lastTriggerAt: lastTriggerAt === null ? null : iso(lastTriggerAt),
      overdue: schedules.filter((s) => s.overdue).map((s) => s.name),
      schedules,
    };
  }
}
