import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "vitest";
import type { FakeClock } from "../../src/clock.js";
import type { AnyTask } from "../../src/jobs/task.js";
import { type RuntimeOptions, type Service, startService } from "../../src/runtime.js";
import type { Schedule } from "../../src/schedules/schedule.js";
import { TEST_KEY, testConfig } from "./config.js";
import type { TestEngine } from "./databases.js";
import { waitFor } from "./jobs.js";

export interface TestServiceOptions {
  engine: TestEngine;
  clock: FakeClock;
  /** Configuration variables over the test defaults; `EMAIL_FILE_PATH` is the outbox. */
  env?: Record<string, string>;
  /** Tasks besides the service's own. */
  tasks?: AnyTask[];
  /** The schedules; default the service's own. */
  schedules?: Schedule[];
  jobs?: RuntimeOptions["jobs"];
  /** How long `dispose` lets running jobs finish; 1 s unless a test's jobs need longer. */
  stopGraceMs?: number;
}

export interface TestService {
  service: Service;
  /** The folder the file mailer writes each message to, as an .eml file. */
  outbox: string;
  /** Stops the service, then drops its database and removes its outbox. */
  dispose(): Promise<void>;
}

/** A real service on 127.0.0.1 and an ephemeral port, with its own database and outbox. */
export async function startTestService(options: TestServiceOptions): Promise<TestService> {
  const { engine, clock, env = {}, tasks, schedules, jobs, stopGraceMs = 1_000 } = options;
  const created = await engine.create();
  const outbox = fs.mkdtempSync(path.join(os.tmpdir(), "davus-outbox-"));
  const removeOutbox = () => fs.rmSync(outbox, { recursive: true, force: true });

  let service: Service;
  try {
    service = await startService({
      config: testConfig(created.url, { EMAIL_FILE_PATH: outbox, ...env }),
      clock,
      tasks,
      schedules,
      jobs,
    });
  } catch (error) {
    // No `dispose` reaches the caller: leave no database or folder behind.
    await created.drop();
    removeOutbox();
    throw error;
  }

  return {
    service,
    outbox,
    async dispose() {
      await service.stop(stopGraceMs);
      await created.drop();
      removeOutbox();
    },
  };
}

/** POSTs to the tick endpoint the way the cron does, with an API key (the test key by default). */
export function postTick(service: Service, options: { query?: string; key?: string } = {}) {
  const { query = "", key = TEST_KEY } = options;
  return fetch(`${service.url}/api/v1/jobs/tick/${query}`, {
    method: "POST",
    headers: { authorization: `Api-Key ${key}` },
  });
}

/** A tick that must answer 200; its JSON body, typed by the caller. */
export async function tickAnswer<T>(service: Service): Promise<T> {
  const response = await postTick(service);
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

/** A tick that must answer 200, returned once every job it fired or left has finished. */
export async function settledTick<T>(service: Service): Promise<T> {
  const answer = await tickAnswer<T>(service);
  await allJobsFinished(service);
  return answer;
}

/**
 * Resolves once no job is queued or running. On PostgreSQL a NOTIFY wakes a drain of this
 * process that may take a tick's jobs instead of the tick's own drain; this waits for whichever.
 */
export function allJobsFinished(service: Service): Promise<void> {
  return waitFor("every job to finish", async () => {
    const unfinished = await service.database.db
      .selectFrom("jobs")
      .select("id")
      .where("status", "in", ["queued", "running"])
      .execute();
    return unfinished.length === 0;
  });
}
