import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/commands.js";
import { SERVICE_SCHEDULES } from "../../src/runtime.js";
import { defineSchedule } from "../../src/schedules/schedule.js";
import { describeCost, generateWorkflows, utcTriggers } from "../../src/schedules/workflow.js";

const run = promisify(execFile);
const COMMITTED = path.resolve(".github/workflows");
const generated = generateWorkflows(SERVICE_SCHEDULES, { budgetSeconds: 25 });

describe("davus workflow generate", () => {
  it("matches the committed workflows byte for byte (regenerate when the schedules change)", () => {
    const committed = fs
      .readdirSync(COMMITTED)
      .filter((file) => file.endsWith(".yml"))
      .sort();
    expect(committed).toEqual(generated.map((workflow) => workflow.file).sort());
    for (const workflow of generated) {
      expect(fs.readFileSync(path.join(COMMITTED, workflow.file), "utf8"), workflow.file).toBe(
        workflow.content,
      );
    }
  });

  it("writes workflows that pass action-validator", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "davus-wf-"));
    try {
      for (const workflow of generated) {
        const file = path.join(dir, workflow.file);
        fs.writeFileSync(file, workflow.content);
        const result = await run("node_modules/.bin/action-validator", [file]);
        expect(result.stdout).toBe("");
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("--check says a workflow is missing, with where it looked, rather than out of date", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "davus-wf-missing-"));
    const printed: string[] = [];
    try {
      const status = await runCli(["workflow", "generate", "--check", "--dir", dir], (line) =>
        printed.push(line),
      );

      expect(status).toBe(1);
      expect(printed[0]).toBe(
        `${path.join(dir, "daily_checks.yml")} is missing: run davus workflow generate from the project's root (or pass --dir)`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a broken workflow, so the validator check can fail", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "davus-wf-"));
    const file = path.join(dir, "broken.yml");
    fs.writeFileSync(
      file,
      generated[0]!.content.replace('- cron: "7 10 * * 1-5"', '- cron: "every day"'),
    );
    try {
      await expect(run("node_modules/.bin/action-validator", [file])).rejects.toMatchObject({
        code: 1,
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("triggers the daily check at 10:07 UTC on weekdays, with a concurrency group, a timeout and a manual run", () => {
    const daily = generated.find((workflow) => workflow.file === "daily_checks.yml");
    expect(daily?.utcCrons).toEqual(["7 10 * * 1-5"]);
    expect(daily?.warnings).toEqual([]);
    expect(daily?.content).toContain("workflow_dispatch:");
    expect(daily?.content).toContain("group: davus-tick");
    expect(daily?.content).toContain("timeout-minutes: 15");
    expect(daily?.content).toContain("/api/v1/jobs/tick/?budget=25");
  });

  it("sets a New York trigger never before its slot, and warns of the daylight-saving hours", () => {
    const schedule = defineSchedule("reports.morning", {
      cron: "0 9 * * *",
      timezone: "America/New_York",
      task: "t",
    });
    const { crons, warnings } = utcTriggers(schedule);
    expect(crons).toEqual(["7 14 * * *"]);
    expect(warnings).toEqual([
      "America/New_York has daylight saving: from 2026-03-08 to 2026-10-31 (dates of 2026) the trigger for the 09:00 slot comes 1 h 07 min after it instead of 7 min, since GitHub's cron runs in UTC.",
    ]);
  });

  it("moves the weekdays with the date when the UTC time falls on the previous day", () => {
    const schedule = defineSchedule("reports.tokyo", {
      cron: "30 8 * * 1-5",
      timezone: "Asia/Tokyo",
      task: "t",
    });
    expect(utcTriggers(schedule)).toEqual({
      crons: ["37 23 * * 0-4"],
      warnings: [],
      triggersPerYear: 261,
    });
  });

  it("says what the schedule costs a month in Actions minutes and wake-ups", () => {
    expect(describeCost(generated)).toEqual([
      "daily_checks.yml: 7 10 * * 1-5 (UTC), about 21.8 runs a month; each wakes the service once.",
      "Cost: each run is billed at least one minute, so at least 22 Actions minutes a month: free on a public repository, 1.1% of the 2,000 minutes a month included with a private one.",
    ]);
  });
});
