import { Cron } from "croner";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask } from "../../src/jobs/task.js";
import { defineSchedule, type Schedule } from "../../src/schedules/schedule.js";
import { type FiredSlot, Scheduler } from "../../src/schedules/scheduler.js";
import { engines } from "../support/databases.js";
import { useJobsWorld } from "../support/jobs.js";

const MINUTE = 60_000;

const recordSlot = defineTask({
  name: "test.record-slot",
  payload: z.object({ slot: z.string() }),
  handler: () => {},
});

const schedule = (cron: string, timezone: string): Schedule =>
  defineSchedule("test.slots", { cron, timezone, task: recordSlot });

const iso = (time: number | undefined) =>
  time === undefined ? undefined : new Date(time).toISOString();

/** The slots in (after, until], as ISO strings. */
function slotsBetween(subject: Schedule, after: string, until: string): string[] {
  const found = subject.slotsBetween(Date.parse(after), Date.parse(until), 100);
  expect(found.total).toBe(found.slots.length);
  return found.slots.map((slot) => new Date(slot).toISOString());
}

describe("a weekday schedule at 07:00 in São Paulo", () => {
  const weekdays = schedule("0 7 * * 1-5", "America/Sao_Paulo");

  it("fires on Friday and Monday at 10:00 UTC, and not on the weekend between", () => {
    expect(slotsBetween(weekdays, "2026-03-05T10:00:00Z", "2026-03-10T09:59:59Z")).toEqual([
      "2026-03-06T10:00:00.000Z",
      "2026-03-09T10:00:00.000Z",
    ]);
  });

  it.each([
    ["Friday's slot", "2026-03-06T10:00:00Z"],
    ["Saturday noon", "2026-03-07T15:00:00Z"],
    ["Sunday evening", "2026-03-08T23:00:00Z"],
    ["Monday a minute before the slot", "2026-03-09T09:59:00Z"],
  ])("answers Monday 10:00 UTC as the next slot after %s", (_when, time) => {
    expect(iso(weekdays.nextSlot(Date.parse(time)))).toBe("2026-03-09T10:00:00.000Z");
  });
});

describe("the next slot, asked again and again", () => {
  it("is what a fresh search finds, whatever order the times come in", () => {
    const hourly = schedule("30 * * * *", "America/New_York");
    const reference = new Cron("30 * * * *", { timezone: "America/New_York", paused: true });
    // Times across the spring-forward night: each slot exactly, a millisecond either side,
    // and times in between, asked forwards, then backwards, then in a fixed shuffle.
    const start = Date.parse("2026-03-07T23:00:00Z");
    const times: number[] = [];
    for (let minute = 0; minute < 2 * 24 * 60; minute += 7) {
      const time = start + minute * MINUTE;
      times.push(time, time - 1, time + 1);
    }
    const slots = hourly.slotsBetween(start, start + 2 * 24 * 60 * MINUTE, 100).slots;
    expect(slots.length).toBeGreaterThan(40);
    for (const slot of slots) times.push(slot, slot - 1, slot + 1);
    const shuffled = times.map((time, n) => ({ time, key: (n * 7919) % 1009 }));
    shuffled.sort((a, b) => a.key - b.key);
    const asked = [...times, ...[...times].reverse(), ...shuffled.map((entry) => entry.time)];

    const wrong = asked.filter(
      (time) => hourly.nextSlot(time) !== reference.nextRun(new Date(time))?.getTime(),
    );
    expect(wrong).toEqual([]);
  });
});

describe("daylight saving time in 2026", () => {
  it.each([
    {
      what: "New York, spring forward on Mar 8: 09:00 EST, then 09:00 EDT",
      zone: "America/New_York",
      after: "2026-03-06T23:00:00Z",
      until: "2026-03-08T23:00:00Z",
      slots: ["2026-03-07T14:00:00.000Z", "2026-03-08T13:00:00.000Z"],
    },
    {
      what: "New York, fall back on Nov 1: 09:00 EDT, then 09:00 EST",
      zone: "America/New_York",
      after: "2026-10-30T23:00:00Z",
      until: "2026-11-01T23:00:00Z",
      slots: ["2026-10-31T13:00:00.000Z", "2026-11-01T14:00:00.000Z"],
    },
    {
      what: "Lisbon, spring forward on Mar 29: 09:00 WET, then 09:00 WEST",
      zone: "Europe/Lisbon",
      after: "2026-03-27T23:00:00Z",
      until: "2026-03-29T23:00:00Z",
      slots: ["2026-03-28T09:00:00.000Z", "2026-03-29T08:00:00.000Z"],
    },
    {
      what: "Lisbon, fall back on Oct 25: 09:00 WEST, then 09:00 WET",
      zone: "Europe/Lisbon",
      after: "2026-10-23T23:00:00Z",
      until: "2026-10-25T23:00:00Z",
      slots: ["2026-10-24T08:00:00.000Z", "2026-10-25T09:00:00.000Z"],
    },
  ])("keeps a daily 09:00 slot at 09:00 local time: $what", ({ zone, after, until, slots }) => {
    const daily = schedule("0 9 * * *", zone);

    expect(slotsBetween(daily, after, until)).toEqual(slots);
    expect(iso(daily.nextSlot(Date.parse(slots[0] as string)))).toBe(slots[1]);
  });

  it.each([
    {
      what: "02:30 in New York on Mar 8 fires once, at 03:00 EDT",
      cron: "30 2 * * *",
      zone: "America/New_York",
      after: "2026-03-07T12:00:00Z",
      until: "2026-03-08T12:00:00Z",
      slot: "2026-03-08T07:00:00.000Z",
      next: "2026-03-09T06:30:00.000Z",
    },
    {
      what: "01:30 in Lisbon on Mar 29 fires once, at 02:00 WEST",
      cron: "30 1 * * *",
      zone: "Europe/Lisbon",
      after: "2026-03-28T12:00:00Z",
      until: "2026-03-29T12:00:00Z",
      slot: "2026-03-29T01:00:00.000Z",
      next: "2026-03-30T00:30:00.000Z",
    },
  ])("fires a slot in the skipped hour once: $what", ({ cron, zone, after, until, slot, next }) => {
    const inTheGap = schedule(cron, zone);

    expect(slotsBetween(inTheGap, after, until)).toEqual([slot]);
    expect(iso(inTheGap.nextSlot(Date.parse(slot)))).toBe(next);
  });

  it.each([
    {
      what: "01:30 in New York on Nov 1 fires at 01:30 EDT, not again at 01:30 EST",
      zone: "America/New_York",
      after: "2026-10-31T12:00:00Z",
      until: "2026-11-01T12:00:00Z",
      slot: "2026-11-01T05:30:00.000Z",
      repeat: "2026-11-01T06:30:00Z",
      next: "2026-11-02T06:30:00.000Z",
    },
    {
      what: "01:30 in Lisbon on Oct 25 fires at 01:30 WEST, not again at 01:30 WET",
      zone: "Europe/Lisbon",
      after: "2026-10-24T12:00:00Z",
      until: "2026-10-25T12:00:00Z",
      slot: "2026-10-25T00:30:00.000Z",
      repeat: "2026-10-25T01:30:00Z",
      next: "2026-10-26T01:30:00.000Z",
    },
  ])(
    "fires a slot in the repeated hour once: $what",
    ({ zone, after, until, slot, repeat, next }) => {
      const inTheRepeat = schedule("30 1 * * *", zone);

      expect(slotsBetween(inTheRepeat, after, until)).toEqual([slot]);
      expect(iso(inTheRepeat.nextSlot(Date.parse(slot)))).toBe(next);
      // From inside the repeated hour, just before the second 01:30, too.
      expect(iso(inTheRepeat.nextSlot(Date.parse(repeat) - MINUTE))).toBe(next);
    },
  );
});

describe.each(engines)("the scheduler with a fake clock ($name)", (engine) => {
  const world = useJobsWorld(engine);

  /** A scheduler for `subject`, recorded at `start`, as the service does when it starts. */
  async function schedulerFrom(subject: Schedule, start: string): Promise<Scheduler> {
    world.clock.set(start);
    const scheduler = new Scheduler({
      db: world.database.db,
      jobs: world.engine({ tasks: [recordSlot] }),
      clock: world.clock,
      logger: world.logs.logger,
      schedules: [subject],
    });
    await scheduler.init();
    return scheduler;
  }

  /** Tick every `stepMs` in (clock, until]; the slots fired, each with how late it fired. */
  async function tickUntil(scheduler: Scheduler, until: string, stepMs: number) {
    const fired: Pick<FiredSlot, "slot" | "lateByMs">[] = [];
    while (world.clock.now() + stepMs <= Date.parse(until)) {
      world.clock.advance(stepMs);
      const result = await scheduler.fireDue("trigger");
      fired.push(...result.fired.map(({ slot, lateByMs }) => ({ slot, lateByMs })));
    }
    return fired;
  }

  async function scheduledJobs(): Promise<string[]> {
    const rows = await world.database.db
      .selectFrom("jobs")
      .select("unique_key")
      .where("task", "=", recordSlot.name)
      .orderBy("id")
      .execute();
    return rows.map((row) => row.unique_key ?? "");
  }

  it("fires the São Paulo weekday slot on Friday, nothing on the weekend, then on Monday", async () => {
    const scheduler = await schedulerFrom(
      schedule("0 7 * * 1-5", "America/Sao_Paulo"),
      "2026-03-06T09:00:00Z",
    );
    const tickAt = async (time: string) => {
      world.clock.set(time);
      return (await scheduler.fireDue("trigger")).fired.map((fired) => fired.slot);
    };

    expect(await tickAt("2026-03-06T10:00:00Z")).toEqual(["2026-03-06T10:00:00.000Z"]);
    expect(await tickAt("2026-03-07T10:00:00Z")).toEqual([]);
    expect(await tickAt("2026-03-08T10:00:00Z")).toEqual([]);
    expect(await tickAt("2026-03-09T09:59:59Z")).toEqual([]);
    expect(await tickAt("2026-03-09T10:00:00Z")).toEqual(["2026-03-09T10:00:00.000Z"]);
    expect(await scheduledJobs()).toEqual([
      "schedule:test.slots:2026-03-06T10:00:00.000Z",
      "schedule:test.slots:2026-03-09T10:00:00.000Z",
    ]);
  });

  it.each([
    {
      what: "daily 09:00 in New York across Mar 8",
      cron: "0 9 * * *",
      zone: "America/New_York",
      start: "2026-03-07T00:00:00Z",
      until: "2026-03-09T00:00:00Z",
      slots: ["2026-03-07T14:00:00.000Z", "2026-03-08T13:00:00.000Z"],
    },
    {
      what: "daily 09:00 in Lisbon across Oct 25",
      cron: "0 9 * * *",
      zone: "Europe/Lisbon",
      start: "2026-10-24T00:00:00Z",
      until: "2026-10-26T00:00:00Z",
      slots: ["2026-10-24T08:00:00.000Z", "2026-10-25T09:00:00.000Z"],
    },
    {
      what: "02:30 in New York on the night of Mar 8 (a skipped hour)",
      cron: "30 2 * * *",
      zone: "America/New_York",
      start: "2026-03-08T00:00:00Z",
      until: "2026-03-08T12:00:00Z",
      slots: ["2026-03-08T07:00:00.000Z"],
    },
    {
      what: "01:30 in New York on the night of Nov 1 (a repeated hour)",
      cron: "30 1 * * *",
      zone: "America/New_York",
      start: "2026-11-01T00:00:00Z",
      until: "2026-11-01T12:00:00Z",
      slots: ["2026-11-01T05:30:00.000Z"],
    },
    {
      what: "01:30 in Lisbon on the night of Mar 29 (a skipped hour)",
      cron: "30 1 * * *",
      zone: "Europe/Lisbon",
      start: "2026-03-28T20:00:00Z",
      until: "2026-03-29T12:00:00Z",
      slots: ["2026-03-29T01:00:00.000Z"],
    },
    {
      what: "01:30 in Lisbon on the night of Oct 25 (a repeated hour)",
      cron: "30 1 * * *",
      zone: "Europe/Lisbon",
      start: "2026-10-24T20:00:00Z",
      until: "2026-10-25T12:00:00Z",
      slots: ["2026-10-25T00:30:00.000Z"],
    },
  ])(
    "ticked every 15 minutes, fires each slot once and on time: $what",
    async ({ cron, zone, start, until, slots }) => {
      const scheduler = await schedulerFrom(schedule(cron, zone), start);

      const fired = await tickUntil(scheduler, until, 15 * MINUTE);

      expect(fired).toEqual(slots.map((slot) => ({ slot, lateByMs: 0 })));
      expect(await scheduledJobs()).toEqual(slots.map((slot) => `schedule:test.slots:${slot}`));
    },
  );

  it("ticked every 10 minutes through the repeated hour, fires an hourly schedule at each of its two 01:00", async () => {
    const scheduler = await schedulerFrom(
      schedule("0 * * * *", "America/New_York"),
      "2026-11-01T03:30:00Z",
    );

    const fired = await tickUntil(scheduler, "2026-11-01T07:30:00Z", 10 * MINUTE);

    // 00:00 EDT, 01:00 EDT, 01:00 EST, 02:00 EST: four real hours, four slots.
    expect(fired.map((f) => f.slot)).toEqual([
      "2026-11-01T04:00:00.000Z",
      "2026-11-01T05:00:00.000Z",
      "2026-11-01T06:00:00.000Z",
      "2026-11-01T07:00:00.000Z",
    ]);
  });
});
