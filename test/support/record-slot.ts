import { z } from "zod";
import { defineTask } from "../../src/jobs/task.js";
import { defineSchedule, type ScheduleOptions } from "../../src/schedules/schedule.js";
import { startTestService, type TestService, type TestServiceOptions } from "./service.js";

export interface SlotServiceOptions extends Omit<TestServiceOptions, "tasks" | "schedules"> {
  /** The durable task the schedule fires. */
  task: { name: string; maxAttempts?: number };
  /** The service's one schedule. */
  schedule: { name: string } & Omit<ScheduleOptions, "task">;
}

/**
 * A test service whose one schedule fires a task that keeps the slot of each job it runs in
 * `ran`, in the order it ran them.
 */
export async function startSlotService(
  options: SlotServiceOptions,
): Promise<TestService & { ran: string[] }> {
  const { task: taskOptions, schedule: scheduleOptions, ...serviceOptions } = options;
  const ran: string[] = [];
  const task = defineTask({
    ...taskOptions,
    payload: z.object({ slot: z.string() }),
    handler: ({ payload }) => {
      ran.push(payload.slot);
    },
  });
  const { name, ...schedule } = scheduleOptions;
  const started = await startTestService({
    ...serviceOptions,
    tasks: [task],
    schedules: [defineSchedule(name, { ...schedule, task })],
  });
  return { ...started, ran };
}
