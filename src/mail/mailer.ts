import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import type nodemailer from "nodemailer";
import type { Transporter } from "nodemailer";
import type { EmailConfig } from "../config.js";
import type { Logger } from "../logger.js";
import { classifySmtpError } from "./smtp-errors.js";

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string | undefined;
  /** Identifies the message across retries; its Message-ID is derived from it. */
  messageKey: string;
}

export interface SentMail {
  messageId: string;
  /** The `.eml` file written, with the file backend. */
  path?: string;
}

export interface Mailer {
  readonly backend: EmailConfig["backend"];
  send(message: MailMessage): Promise<SentMail>;
  close(): Promise<void>;
}

export interface MailerOptions {
  config: EmailConfig;
  logger: Logger;
  /** Extra certificate authorities to trust for SMTP over TLS (PEM). */
  tlsCa?: string | Buffer;
  /** Where the console backend prints; default stdout. */
  consoleOut?: NodeJS.WritableStream;
}

// nodemailer is loaded when the first message is sent, not at every start (about 80 ms).
const requireModule = createRequire(import.meta.url);
let nodemailerModule: typeof nodemailer | undefined;
const loadNodemailer = (): typeof nodemailer => {
  nodemailerModule ??= requireModule("nodemailer") as typeof nodemailer;
  return nodemailerModule;
};

/**
 * The end of an `.eml` file's name for a message key: the key made safe for a file name,
 * plus a hash of the whole key, so that two keys made alike by the cleaning stay apart.
 */
export function outboxFileSuffix(messageKey: string): string {
  const safeKey = messageKey.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 80);
  const hash = createHash("sha256").update(messageKey).digest("hex").slice(0, 8);
  return `${safeKey}-${hash}.eml`;
}

/** A stable Message-ID per message key, so a receiver can spot a message delivered twice. */
export function messageIdFor(key: string): string {
  return `<${createHash("sha256").update(key).digest("hex").slice(0, 32)}@davus.invalid>`;
}

/** What nodemailer sends for `message`, whatever the backend. */
function mailOptions(from: string, message: MailMessage) {
  return {
    from,
    to: message.to,
    subject: message.subject,
    text: message.text,
    ...(message.html ? { html: message.html } : {}),
    messageId: messageIdFor(message.messageKey),
  };
}

/** The mailer for the configured backend: smtp, console or file. */
export function createMailer(options: MailerOptions): Mailer {
  const { config } = options;
  if (config.backend === "smtp") return createSmtpMailer(options);
  return createStreamMailer(options);
}

function createSmtpMailer({ config, logger, tlsCa }: MailerOptions): Mailer {
  // One pooled transport for the process: connections are reused across messages.
  // `secure` is implicit TLS (465); `requireTLS` insists on STARTTLS (587, 2525) and fails
  // rather than sending in clear when the server does not offer it. With a login it is
  // always on: the password never crosses the network in clear.
  let transport: Transporter | undefined;
  const open = (): Transporter =>
    (transport ??= loadNodemailer().createTransport({
      pool: true,
      maxConnections: 2,
      host: config.host,
      port: config.port,
      secure: config.useSsl,
      requireTLS: config.useTls || (config.user !== undefined && !config.useSsl),
      ...(config.user ? { auth: { user: config.user, pass: config.password ?? "" } } : {}),
      connectionTimeout: config.timeoutMs,
      greetingTimeout: config.timeoutMs,
      socketTimeout: config.timeoutMs,
      ...(tlsCa ? { tls: { ca: tlsCa } } : {}),
    }));
  const log = logger.child({ component: "mailer", backend: "smtp" });
  let closed = false;

  return {
    backend: "smtp",
    async send(message) {
      const { messageId, ...envelope } = mailOptions(config.from, message);
      try {
        const info = await open().sendMail({ ...envelope, messageId });
        log.info({ to: message.to, messageId, response: info.response }, "mail delivered");
        return { messageId };
      } catch (error) {
        throw classifySmtpError(error, config);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      transport?.close();
    },
  };
}

function createStreamMailer({ config, logger, consoleOut }: MailerOptions): Mailer {
  let transport: Transporter | undefined;
  const open = (): Transporter =>
    (transport ??= loadNodemailer().createTransport({
      streamTransport: true,
      buffer: true,
      newline: "unix",
    }));
  const log = logger.child({ component: "mailer", backend: config.backend });

  return {
    backend: config.backend,
    async send(message) {
      const { messageId, ...envelope } = mailOptions(config.from, message);
      const info = await open().sendMail({ ...envelope, messageId });
      const raw = info.message as Buffer;

      if (config.backend === "console") {
        (consoleOut ?? process.stdout).write(`${raw.toString("utf8")}\n${"-".repeat(72)}\n`);
        log.info({ to: message.to, messageId }, "mail printed");
        return { messageId };
      }

      await fs.mkdir(config.filePath, { recursive: true });
      const file = path.join(
        config.filePath,
        `${Date.now()}-${outboxFileSuffix(message.messageKey)}`,
      );
      await fs.writeFile(file, raw);
      log.info({ to: message.to, messageId, path: file }, "mail written");
      return { messageId, path: file };
    },
    async close() {},
  };
}
