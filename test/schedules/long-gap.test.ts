import { describe, expect, it } from "vitest";
import { defineSchedule } from "../../src/schedules/schedule.js";

describe("slots after a very long gap", () => {
  it("keeps the real latest slots of a minutely schedule left alone for 15 days", () => {
    const schedule = defineSchedule("test.minutely", {
      cron: "* * * * *",
      timezone: "America/Sao_Paulo",
      task: "test.noop",
    });
    const after = Date.parse("2026-03-01T00:00:00Z");
    const until = Date.parse("2026-03-16T00:00:30Z");
    const { slots, total } = schedule.slotsBetween(after, until, 3);
    expect(slots.map((slot) => new Date(slot).toISOString())).toEqual([
      "2026-03-15T23:58:00.000Z",
      "2026-03-15T23:59:00.000Z",
      "2026-03-16T00:00:00.000Z",
    ]);
    expect(total).toBe(20_000);
  });
});
