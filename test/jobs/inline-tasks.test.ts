import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask, type TaskOptions } from "../../src/jobs/task.js";
import { engines, type TestEngine } from "../support/databases.js";
import { ConcurrencyProbe, sleep, useJobsWorld } from "../support/jobs.js";

const auditEntry = z.object({ action: z.string() });

/** The inline audit task, run by `handler`. */
function auditTask(handler: TaskOptions<z.infer<typeof auditEntry>>["handler"]) {
  return defineTask({ name: "audit.record", payload: auditEntry, durable: false, handler });
}

describe.each(engines)("inline tasks ($name)", (engine: TestEngine) => {
  const world = useJobsWorld(engine);

  it("runs an inline task after the caller's work, and never stores it", async () => {
    const handled: string[] = [];
    const audit = auditTask(({ payload, jobId, attempt }) => {
      handled.push(`${payload.action} job=${jobId} attempt=${attempt}`);
    });
    const jobs = world.engine({ tasks: [audit] });

    const accepted = jobs.runInline(audit, { action: "product.updated" });
    const handledAtOnce = handled.length;
    await jobs.idle();

    expect(accepted).toBe(true);
    expect(handledAtOnce).toBe(0);
    expect(handled).toEqual(["product.updated job=null attempt=1"]);
    expect(await world.countRows("jobs")).toBe(0);
    expect(await world.countRows("job_runs")).toBe(0);
  });

  it("logs a failing inline task at error level with its name, and does not throw", async () => {
    const audit = auditTask(() => {
      throw new Error("no audit_log table");
    });
    const jobs = world.engine({ tasks: [audit] });

    expect(jobs.runInline(audit, { action: "product.deleted" })).toBe(true);
    await jobs.idle();

    const failures = world.logs.lines().filter((line) => line.msg === "inline task failed");
    expect(failures).toEqual([
      expect.objectContaining({ level: 50, task: "audit.record", err: "no audit_log table" }),
    ]);
  });

  it("warns to make a task durable when an inline run takes longer than slowInlineMs", async () => {
    const audit = auditTask(() => sleep(150));
    const jobs = world.engine({ tasks: [audit], slowInlineMs: 50 });

    jobs.runInline(audit, { action: "report.generated" });
    await jobs.idle();

    const warnings = world.logs.lines().filter((line) => line.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ task: "audit.record" });
    expect(warnings[0]?.msg).toContain("make it durable");
  });

  it("runs no more inline tasks at once than inlineConcurrency, and runs them all", async () => {
    const probe = new ConcurrencyProbe();
    const handled: string[] = [];
    const audit = auditTask(({ payload }) =>
      probe.around(async () => {
        await sleep(30);
        handled.push(payload.action);
      }),
    );
    const jobs = world.engine({ tasks: [audit], inlineConcurrency: 2 });

    for (let n = 1; n <= 7; n++) jobs.runInline(audit, { action: `event-${n}` });
    await jobs.idle();

    expect(probe.max).toBe(2);
    expect(handled.sort()).toEqual([1, 2, 3, 4, 5, 6, 7].map((n) => `event-${n}`));
  });

  it("refuses to run a durable task inline", async () => {
    const durable = defineTask({ name: "audit.durable", payload: auditEntry, handler: () => {} });
    const jobs = world.engine({ tasks: [durable] });

    expect(() => jobs.runInline(durable, { action: "x" })).toThrow(
      'Task "audit.durable" is durable: enqueue it instead of running it inline.',
    );
  });
});
