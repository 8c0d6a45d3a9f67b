import { afterEach, describe, expect, it } from "vitest";
import { FakeClock } from "../../src/clock.js";
import type { Service } from "../../src/runtime.js";
import type { ScheduleOptions } from "../../src/schedules/schedule.js";
import { engines, type TestEngine } from "../support/databases.js";
import { startSlotService } from "../support/record-slot.js";
import { settledTick } from "../support/service.js";

const DAY = 86_400_000;
const SCHEDULE = "test.catch-up";
const TASK = "test.record-slot";

interface TickAnswer {
  status: string;
  fired: { schedule: string; slot: string; job_id: number; late_by_ms: number }[];
  skipped: { schedule: string; count: number; catchUp: string }[];
  late: { schedule: string; slots: number }[];
}

interface TestService {
  service: Service;
  clock: FakeClock;
  /** The slots the task ran for, in the order it ran them. */
  ran: string[];
  tick(): Promise<TickAnswer>;
  /** The slots in the payloads of the jobs stored for the task, oldest job first. */
  storedSlots(): Promise<string[]>;
}

describe.each(engines)("catch-up after a gap of three days ($name)", (engine: TestEngine) => {
  const disposals: (() => Promise<void>)[] = [];

  afterEach(async () => {
    for (const dispose of disposals.splice(0)) await dispose();
  });

  /** A real service whose one schedule starts at `start` (its state starts at the clock). */
  async function startWith(
    start: string,
    options: Pick<ScheduleOptions, "cron" | "catchUp" | "catchUpLimit" | "lateAfterMs">,
  ): Promise<TestService> {
    const clock = new FakeClock(start);
    const { service, ran, dispose } = await startSlotService({
      engine,
      clock,
      task: { name: TASK },
      schedule: { name: SCHEDULE, timezone: "America/Sao_Paulo", ...options },
    });
    disposals.push(dispose);

    return {
      service,
      clock,
      ran,
      tick: () => settledTick<TickAnswer>(service),
      async storedSlots() {
        const rows = await service.database.db
          .selectFrom("jobs")
          .select("payload")
          .where("task", "=", TASK)
          .orderBy("id")
          .execute();
        return rows.map((row) => (JSON.parse(row.payload) as { slot: string }).slot);
      },
    };
  }

  it("latest: fires only the most recent missed slot of an hourly schedule and counts the other 71 as skipped", async () => {
    const world = await startWith("2026-03-02T09:10:00Z", { cron: "0 * * * *", catchUp: "latest" });
    world.clock.advance(3 * DAY);

    const answer = await world.tick();

    expect(answer.fired).toEqual([
      {
        schedule: SCHEDULE,
        slot: "2026-03-05T09:00:00.000Z",
        job_id: expect.any(Number),
        late_by_ms: 10 * 60_000,
      },
    ]);
    expect(answer.skipped).toEqual([{ schedule: SCHEDULE, count: 71, catchUp: "latest" }]);
    expect(await world.storedSlots()).toEqual(["2026-03-05T09:00:00.000Z"]);
    expect(world.ran).toEqual(["2026-03-05T09:00:00.000Z"]);
  });

  it("latest: a daily schedule fires Thursday's slot after missing Tuesday's and Wednesday's", async () => {
    const world = await startWith("2026-03-02T11:00:00Z", {
      cron: "0 7 * * *",
      catchUp: "latest",
    });
    world.clock.set("2026-03-05T11:00:00Z");

    const answer = await world.tick();

    expect(answer.fired.map((fired) => [fired.slot, fired.late_by_ms])).toEqual([
      ["2026-03-05T10:00:00.000Z", 3_600_000],
    ]);
    expect(answer.skipped).toEqual([{ schedule: SCHEDULE, count: 2, catchUp: "latest" }]);
    expect(world.ran).toEqual(["2026-03-05T10:00:00.000Z"]);
  });

  it("all: fires each missed slot of a daily schedule, oldest first", async () => {
    const world = await startWith("2026-03-02T11:00:00Z", {
      cron: "0 7 * * *",
      catchUp: "all",
      catchUpLimit: 10,
    });
    world.clock.set("2026-03-05T11:00:00Z");

    const answer = await world.tick();

    const missed = [
      "2026-03-03T10:00:00.000Z",
      "2026-03-04T10:00:00.000Z",
      "2026-03-05T10:00:00.000Z",
    ];
    expect(answer.fired.map((fired) => fired.slot)).toEqual(missed);
    expect(answer.fired.map((fired) => fired.late_by_ms)).toEqual([
      2 * DAY + 3_600_000,
      DAY + 3_600_000,
      3_600_000,
    ]);
    expect(answer.skipped).toEqual([]);
    expect(await world.storedSlots()).toEqual(missed);
    expect([...world.ran].sort()).toEqual(missed);
  });

  it("all: fires at most catchUpLimit slots of an hourly schedule, the most recent, and counts the rest as skipped", async () => {
    const world = await startWith("2026-03-02T09:10:00Z", {
      cron: "0 * * * *",
      catchUp: "all",
      catchUpLimit: 5,
    });
    world.clock.advance(3 * DAY);

    const answer = await world.tick();

    const newest = [
      "2026-03-05T05:00:00.000Z",
      "2026-03-05T06:00:00.000Z",
      "2026-03-05T07:00:00.000Z",
      "2026-03-05T08:00:00.000Z",
      "2026-03-05T09:00:00.000Z",
    ];
    expect(answer.fired.map((fired) => fired.slot)).toEqual(newest);
    expect(answer.skipped).toEqual([{ schedule: SCHEDULE, count: 67, catchUp: "all" }]);
    expect(await world.storedSlots()).toEqual(newest);
    expect([...world.ran].sort()).toEqual(newest);
  });

  it("none: fires nothing when every missed slot is late, and counts them all as skipped", async () => {
    const world = await startWith("2026-03-02T11:00:00Z", {
      cron: "0 7 * * *",
      catchUp: "none",
      lateAfterMs: 2 * 3_600_000,
    });
    world.clock.set("2026-03-05T13:00:00Z");

    const answer = await world.tick();

    expect(answer.fired).toEqual([]);
    expect(answer.skipped).toEqual([{ schedule: SCHEDULE, count: 3, catchUp: "none" }]);
    expect(await world.storedSlots()).toEqual([]);
    expect(world.ran).toEqual([]);
  });

  it("none: fires the missed slot that is not late yet, skips the late ones, and fires the next day's slot on time", async () => {
    const world = await startWith("2026-03-02T11:00:00Z", {
      cron: "0 7 * * *",
      catchUp: "none",
      lateAfterMs: 2 * 3_600_000,
    });
    world.clock.set("2026-03-05T11:30:00Z");

    const first = await world.tick();
    world.clock.set("2026-03-05T18:00:00Z");
    const again = await world.tick();
    world.clock.set("2026-03-06T10:05:00Z");
    const nextDay = await world.tick();

    expect(first.fired.map((fired) => [fired.slot, fired.late_by_ms])).toEqual([
      ["2026-03-05T10:00:00.000Z", 90 * 60_000],
    ]);
    expect(first.skipped).toEqual([{ schedule: SCHEDULE, count: 2, catchUp: "none" }]);
    expect(again.fired).toEqual([]);
    expect(again.skipped).toEqual([]);
    expect(nextDay.fired.map((fired) => fired.slot)).toEqual(["2026-03-06T10:00:00.000Z"]);
    expect(nextDay.skipped).toEqual([]);
    expect(world.ran).toEqual(["2026-03-05T10:00:00.000Z", "2026-03-06T10:00:00.000Z"]);
  });
});
