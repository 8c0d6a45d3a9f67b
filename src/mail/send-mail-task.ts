import * as z from "zod";
import { defineTask, type TaskDefinition } from "../jobs/task.js";
import type { Mailer, MailMessage } from "./mailer.js";

export const SEND_MAIL_TASK = "mail.send";

const mailPayload = z.object({
  to: z.email(),
  subject: z.string().min(1).max(500),
  text: z.string(),
  html: z.string().optional(),
  messageKey: z.string().min(1).max(300),
});

/**
 * The outbox: every e-mail is a durable job, so a message survives an SMTP outage or a
 * crash. Enqueue it with `uniqueKey: messageKey` so the same message is never queued twice.
 */
export function createSendMailTask(mailer: Mailer): TaskDefinition<MailMessage> {
  return defineTask<MailMessage>({
    name: SEND_MAIL_TASK,
    payload: mailPayload,
    maxAttempts: 12,
    backoff: { baseMs: 30_000, capMs: 2 * 3_600_000 },
    timeoutMs: 60_000,
    handler: async ({ payload }) => {
      await mailer.send(payload);
    },
  });
}
