import { z } from "zod";
import { defineTask } from "../../src/jobs/task.js";

/** The payload shape of the crash worker's task, for enqueueing from a test. */
export const recordEffectTask = defineTask({
  name: "test.record-effect",
  payload: z.object({ n: z.number().int() }),
  handler: () => {
    throw new Error("this process only enqueues; the crash worker runs the task");
  },
});
