import type { Kysely } from "kysely";
import type { Schema } from "../db/schema.js";
import type { JobEngine } from "../jobs/engine.js";
import type { Logger } from "../logger.js";
import { SEND_MAIL_TASK } from "../mail/send-mail-task.js";
import { escapeHtml } from "../mail/templates/html.js";
import type { LateReport } from "./scheduler.js";

/** "2 h 05 min", "12 min". */
export function formatDelay(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  const days = Math.floor(minutes / 1_440);
  const hours = Math.floor((minutes % 1_440) / 60);
  const rest = String(minutes % 60).padStart(2, "0");
  return days > 0 ? `${days} d ${hours} h ${rest} min` : `${hours} h ${rest} min`;
}

/**
 * The dead-man's switch: when a trigger finds slots that should have fired long before, the
 * administrators get one e-mail per gap, queued in the same transaction as the slots.
 */
export function createLateAlert(options: {
  jobs: JobEngine;
  adminEmails: string[];
  logger: Logger;
}) {
  return async (report: LateReport, trx: Kysely<Schema>): Promise<void> => {
    if (options.adminEmails.length === 0) {
      options.logger.error(
        { schedule: report.schedule, lateSlots: report.total },
        "slots came late and no one is told: set ADMIN_EMAILS or LOW_STOCK_ALERT_EMAILS",
      );
      return;
    }
    const last = report.slots.at(-1);
    const subject = `[Davus] Agendamento atrasado: ${report.schedule} (${report.total} ${report.total === 1 ? "horário" : "horários"})`;
    const lines = report.slots.map(
      (slot) => `- ${slot.slot}: atrasado ${formatDelay(slot.lateByMs)}`,
    );
    const text = [
      `O agendamento ${report.schedule} (${report.cron}, ${report.timezone}) não foi disparado na hora.`,
      `O gatilho chegou em ${report.triggerAt}; ${report.total} ${report.total === 1 ? "horário atrasou" : "horários atrasaram"}:`,
      "",
      ...lines,
      ...(report.total > report.slots.length
        ? [`- e mais ${report.total - report.slots.length} anteriores`]
        : []),
      "",
      "O cron externo (GitHub Actions) pode estar atrasado, ter pulado execuções ou estar desativado:",
      "o GitHub desativa os agendamentos de um repositório público após 60 dias sem atividade.",
      "Verifique a aba Actions do repositório e reative o workflow se preciso.",
      "",
    ].join("\n");
    const html = `<pre style="font-family:sans-serif">${escapeHtml(text)}</pre>`;
    for (const to of options.adminEmails) {
      const messageKey = `alert:late:${report.schedule}:${last?.slot ?? report.triggerAt}:${to}`;
      await options.jobs.enqueue(
        SEND_MAIL_TASK,
        { to, subject, text, html, messageKey },
        { db: trx, uniqueKey: messageKey },
      );
    }
  };
}
