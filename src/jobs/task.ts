import type { Kysely } from "kysely";
import type * as z from "zod";
import type { Schema } from "../db/schema.js";
import type { Logger } from "../logger.js";

/** What a handler receives for one attempt. */
export interface TaskContext<Payload> {
  payload: Payload;
  /** The job's id; null for an inline task, which is never stored. */
  jobId: number | null;
  /** 1 for the first attempt. */
  attempt: number;
  logger: Logger;
  /** Aborted when the attempt times out, its lease is lost, or the process stops. */
  signal: AbortSignal;
  db: Kysely<Schema>;
}

export interface BackoffOptions {
  /** Delay before the second attempt; it doubles with each attempt after. */
  baseMs: number;
  /** The longest delay between two attempts. */
  capMs: number;
}

export interface TaskDefinition<Payload = unknown> {
  name: string;
  payload: z.ZodType<Payload>;
  handler: (context: TaskContext<Payload>) => unknown;
  /** Durable tasks are stored before they run; inline ones run best effort, in memory. */
  durable: boolean;
  maxAttempts: number;
  backoff: BackoffOptions;
  timeoutMs: number;
  priority: number;
  /** May be run by hand through `POST /api/v1/jobs/<name>/` with a payload of the caller's. */
  manual: boolean;
}

export interface TaskOptions<Payload> {
  name: string;
  payload: z.ZodType<Payload>;
  handler: (context: TaskContext<Payload>) => unknown;
  durable?: boolean;
  maxAttempts?: number;
  backoff?: Partial<BackoffOptions>;
  timeoutMs?: number;
  priority?: number;
  /**
   * Let the trigger key run this task by hand with any payload (default false). Leave it
   * off for tasks whose payload could do harm, such as sending an e-mail of anyone's choice.
   */
  manual?: boolean;
}

/**
 * A task of any payload type, for lists of tasks. A handler takes its payload as input, so
 * a task of one payload type is not a task of `unknown`; only `any` admits them all.
 */
// biome-ignore lint/suspicious/noExplicitAny: see above.
export type AnyTask = TaskDefinition<any>;

const TASK_NAME = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/;

/**
 * Declare a task.
 *
 * @example
 * const sendMail = defineTask({
 *   name: "mail.send",
 *   payload: z.object({ to: z.email(), subject: z.string() }),
 *   handler: async ({ payload, signal }) => mailer.send(payload, { signal }),
 *   maxAttempts: 8,
 * });
 */
export function defineTask<Payload>(options: TaskOptions<Payload>): TaskDefinition<Payload> {
  if (!TASK_NAME.test(options.name)) {
    throw new Error(
      `Task name "${options.name}" is not valid: use lowercase words with dashes, grouped by dots, such as "inventory.check-low-stock".`,
    );
  }
  const maxAttempts = options.maxAttempts ?? 10;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new Error(
      `Task "${options.name}": \`maxAttempts\` must be a whole number of at least 1, got ${maxAttempts}.`,
    );
  }
  return {
    name: options.name,
    payload: options.payload,
    handler: options.handler,
    durable: options.durable ?? true,
    maxAttempts,
    backoff: {
      baseMs: options.backoff?.baseMs ?? 1_000,
      capMs: options.backoff?.capMs ?? 3_600_000,
    },
    timeoutMs: options.timeoutMs ?? 20_000,
    priority: options.priority ?? 0,
    manual: options.manual ?? false,
  };
}

/**
 * The wait before the next attempt: exponential in the attempts made, capped, then
 * jittered to between half and all of it, so that jobs failed together do not retry in
 * lockstep.
 */
export function retryDelay(
  backoff: BackoffOptions,
  attemptsMade: number,
  random: () => number,
): number {
  const exponential = backoff.baseMs * 2 ** Math.max(0, attemptsMade - 1);
  const capped = Math.min(backoff.capMs, exponential);
  return Math.round(capped / 2 + (random() * capped) / 2);
}
