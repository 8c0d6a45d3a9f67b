import fs from "node:fs";
import path from "node:path";
import { type ParsedMail, simpleParser } from "mailparser";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeClock } from "../../src/clock.js";
import { SEND_MAIL_TASK } from "../../src/mail/send-mail-task.js";
import type { Service } from "../../src/runtime.js";
import { engines, type TestEngine } from "../support/databases.js";
import { startSlotService } from "../support/record-slot.js";
import { settledTick } from "../support/service.js";

const SCHEDULE = "test.daily-report";
const TASK = "test.record-slot";
const ADMINS = ["admin@example.com", "ops@example.com"];
const HOUR = 3_600_000;
/** Daily at 07:00 in São Paulo: 10:00 UTC. */
const MISSED_SLOT = "2026-03-02T10:00:00.000Z";

interface HealthAnswer {
  scheduler: {
    last_trigger_at: string | null;
    overdue: string[];
    schedules: {
      name: string;
      last_slot: string | null;
      next_slot: string | null;
      overdue: boolean;
      overdue_since: string | null;
      overdue_slots: number;
    }[];
  };
}

interface TickAnswer {
  fired: { schedule: string; slot: string; late_by_ms: number }[];
  late: { schedule: string; slots: number }[];
}

describe.each(engines)("the dead-man's switch ($name)", (engine: TestEngine) => {
  let service: Service;
  let clock: FakeClock;
  let outbox: string;
  let ran: string[];
  let dispose: () => Promise<void>;

  beforeEach(async () => {
    // Monday 06:00 in São Paulo, an hour before the slot no trigger will come for.
    clock = new FakeClock("2026-03-02T09:00:00Z");
    ({ service, outbox, ran, dispose } = await startSlotService({
      engine,
      clock,
      env: { EMAIL_BACKEND: "file", ADMIN_EMAILS: ADMINS.join(",") },
      task: { name: TASK },
      schedule: {
        name: SCHEDULE,
        cron: "0 7 * * *",
        timezone: "America/Sao_Paulo",
        lateAfterMs: 2 * HOUR,
      },
    }));
  });

  afterEach(async () => {
    await dispose?.();
  });

  const health = async (): Promise<HealthAnswer["scheduler"]> => {
    const response = await fetch(`${service.url}/health/`);
    expect(response.status).toBe(200);
    return ((await response.json()) as HealthAnswer).scheduler;
  };

  const tick = () => settledTick<TickAnswer>(service);

  const mails = async (): Promise<ParsedMail[]> =>
    Promise.all(
      fs
        .readdirSync(outbox)
        .filter((file) => file.endsWith(".eml"))
        .map((file) => simpleParser(fs.readFileSync(path.join(outbox, file)))),
    );

  const recipient = (mail: ParsedMail) =>
    mail.to && !Array.isArray(mail.to) ? mail.to.text : String(mail.to);

  const alertJobs = async () =>
    service.database.db
      .selectFrom("jobs")
      .select(["status", "unique_key"])
      .where("task", "=", SEND_MAIL_TASK)
      .orderBy("unique_key")
      .execute();

  it("shows no schedule overdue while the missed slot is within lateAfterMs", async () => {
    clock.set("2026-03-02T11:59:00Z");

    const scheduler = await health();

    expect(scheduler.overdue).toEqual([]);
    expect(scheduler.schedules).toEqual([
      {
        name: SCHEDULE,
        last_slot: "2026-03-02T09:00:00.000Z",
        next_slot: "2026-03-03T10:00:00.000Z",
        overdue: false,
        overdue_since: null,
        overdue_slots: 0,
      },
    ]);
  });

  it("shows the schedule overdue since the missed slot, alerts each admin once on the late tick, and clears", async () => {
    clock.set("2026-03-02T13:30:00Z");

    const before = await health();
    const late = await tick();
    const alerts = await mails();
    clock.advance(10 * 60_000);
    const again = await tick();
    const after = await health();

    expect(before.last_trigger_at).toBeNull();
    expect(before.overdue).toEqual([SCHEDULE]);
    expect(before.schedules).toEqual([
      {
        name: SCHEDULE,
        last_slot: "2026-03-02T09:00:00.000Z",
        next_slot: "2026-03-03T10:00:00.000Z",
        overdue: true,
        overdue_since: MISSED_SLOT,
        overdue_slots: 1,
      },
    ]);

    expect(late.fired).toEqual([
      expect.objectContaining({ schedule: SCHEDULE, slot: MISSED_SLOT, late_by_ms: 3.5 * HOUR }),
    ]);
    expect(late.late).toEqual([{ schedule: SCHEDULE, slots: 1 }]);
    expect(ran).toEqual([MISSED_SLOT]);

    expect(alerts.map(recipient).sort()).toEqual(ADMINS);
    for (const mail of alerts) {
      expect(mail.subject).toBe(`[Davus] Agendamento atrasado: ${SCHEDULE} (1 horário)`);
      expect(mail.text).toContain(`${MISSED_SLOT}: atrasado 3 h 30 min`);
      expect(mail.text).toContain("O gatilho chegou em 2026-03-02T13:30:00.000Z");
      expect(mail.text).toContain("ou estar desativado");
    }
    expect(await alertJobs()).toEqual(
      ADMINS.map((to) => ({
        status: "succeeded",
        unique_key: `alert:late:${SCHEDULE}:${MISSED_SLOT}:${to}`,
      })),
    );

    expect(again.fired).toEqual([]);
    expect(again.late).toEqual([]);
    expect((await mails()).length).toBe(ADMINS.length);
    expect((await alertJobs()).length).toBe(ADMINS.length);

    expect(after.last_trigger_at).toBe("2026-03-02T13:40:00.000Z");
    expect(after.overdue).toEqual([]);
    expect(after.schedules).toEqual([
      {
        name: SCHEDULE,
        last_slot: MISSED_SLOT,
        next_slot: "2026-03-03T10:00:00.000Z",
        overdue: false,
        overdue_since: null,
        overdue_slots: 0,
      },
    ]);
  });

  it("sends no alert for a tick that comes within lateAfterMs", async () => {
    clock.set("2026-03-02T11:00:00Z");

    const answer = await tick();

    expect(answer.fired.map((fired) => fired.slot)).toEqual([MISSED_SLOT]);
    expect(answer.late).toEqual([]);
    expect(await mails()).toEqual([]);
    expect(await alertJobs()).toEqual([]);
  });
});
