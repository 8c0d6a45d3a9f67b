import { AppError } from "../errors.js";

export interface SmtpTarget {
  host: string;
  port: number;
  useTls: boolean;
  useSsl: boolean;
  timeoutMs: number;
}

interface NodemailerError {
  code?: string;
  errno?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  message?: string;
}

/**
 * Turn a delivery failure into an error that names the server and the likely cause, and
 * says whether trying again later can help. It never quotes credentials: nodemailer's
 * errors do not carry them, and only the server's reply is quoted.
 */
export function classifySmtpError(thrown: unknown, target: SmtpTarget): AppError {
  const error = (thrown ?? {}) as NodemailerError;
  const where = `SMTP server ${target.host}:${target.port}`;
  const code = error.code ?? "";
  const detail = String(error.message ?? thrown);

  if (code === "ETIMEDOUT" || /timed? ?out/i.test(detail)) {
    // On 465 the server waits for a TLS handshake first; a client expecting a greeting in
    // clear waits too, and both time out.
    if (target.port === 465 && !target.useSsl) {
      return new AppError(
        "smtp_timeout",
        `Could not deliver through ${where}: no answer within ${target.timeoutMs} ms (EMAIL_TIMEOUT). Port 465 expects implicit TLS: set EMAIL_USE_SSL=true (or use port 587 or 2525 with EMAIL_USE_TLS=true). If that is set already, the host may block outbound port 465.`,
        { status: 502, retryable: true, cause: thrown },
      );
    }
    const blocked = [25, 465, 587].includes(target.port)
      ? ` Most often the host blocks outbound port ${target.port}: some free hosts block ports 25, 465 and 587. SendGrid also listens on 2525 (set EMAIL_PORT=2525 and EMAIL_USE_TLS=true).`
      : " Check that the host allows outbound connections to this port.";
    return new AppError(
      "smtp_timeout",
      `Could not deliver through ${where}: no answer within ${target.timeoutMs} ms (EMAIL_TIMEOUT).${blocked}`,
      { status: 502, retryable: true, cause: thrown },
    );
  }
  if (/ECONNREFUSED/.test(`${error.errno ?? ""} ${detail}`)) {
    return new AppError(
      "smtp_refused",
      `Could not deliver through ${where}: the connection was refused; nothing listens there. Check EMAIL_HOST and EMAIL_PORT.`,
      { status: 502, retryable: true, cause: thrown },
    );
  }
  if (code === "EDNS" || /ENOTFOUND|EAI_AGAIN/.test(detail)) {
    return new AppError(
      "smtp_unknown_host",
      `Could not deliver through ${where}: the host name does not resolve. Check EMAIL_HOST.`,
      { status: 502, retryable: true, cause: thrown },
    );
  }
  if (/STARTTLS/.test(detail) && !target.useSsl) {
    return new AppError(
      "smtp_no_starttls",
      `Could not deliver through ${where}: the server offers no STARTTLS, and with a login (EMAIL_HOST_USER) or EMAIL_USE_TLS=true nothing is sent in clear. Use a port with STARTTLS (587 or 2525), or implicit TLS on 465 with EMAIL_USE_SSL=true.`,
      { status: 502, retryable: true, cause: thrown },
    );
  }
  if (code === "ETLS" || /wrong version number|SSL routines|certificate|handshake/i.test(detail)) {
    const hint = target.useSsl
      ? " EMAIL_USE_SSL means implicit TLS (port 465); for STARTTLS on 587 or 2525 set EMAIL_USE_TLS=true instead."
      : " Check the server's certificate and that EMAIL_USE_TLS (STARTTLS) fits this port.";
    return new AppError(
      "smtp_tls",
      `Could not deliver through ${where}: TLS failed (${detail}).${hint}`,
      {
        status: 502,
        retryable: true,
        cause: thrown,
      },
    );
  }
  if (code === "EAUTH") {
    return new AppError(
      "smtp_auth",
      `${where} refused the login (${error.response ?? detail}). Check EMAIL_HOST_USER and EMAIL_HOST_PASSWORD.`,
      { status: 502, retryable: true, cause: thrown },
    );
  }
  if (typeof error.responseCode === "number") {
    const transient = error.responseCode < 500;
    return new AppError(
      transient ? "smtp_deferred" : "smtp_rejected",
      `${where} ${transient ? "deferred" : "rejected"} the message at ${error.command ?? "a command"}: ${error.response ?? detail}`,
      { status: 502, retryable: transient, cause: thrown },
    );
  }
  if (code === "ECONNECTION" || code === "ESOCKET" || /ECONNRESET|EPIPE|closed/i.test(detail)) {
    return new AppError(
      "smtp_connection",
      `Could not deliver through ${where}: the connection failed (${detail}).`,
      {
        status: 502,
        retryable: true,
        cause: thrown,
      },
    );
  }
  return new AppError("smtp_error", `Could not deliver through ${where}: ${detail}`, {
    status: 502,
    retryable: true,
    cause: thrown,
  });
}
