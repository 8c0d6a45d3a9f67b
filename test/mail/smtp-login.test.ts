import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/logger.js";
import { createMailer, type Mailer } from "../../src/mail/mailer.js";
import { testConfig } from "../support/config.js";
import { makeCertificate, TestSmtpServer } from "../support/smtp.js";

const certificate = makeCertificate();
const LOGIN = { user: "apikey", pass: "smtp-password-31xy" };
const MESSAGE = {
  to: "estoque@example.com",
  subject: "Teste",
  text: "Olá",
  messageKey: "test:login",
};

describe("an SMTP login without EMAIL_USE_TLS", () => {
  let smtp: TestSmtpServer | undefined;
  let mailer: Mailer | undefined;

  afterEach(async () => {
    await mailer?.close();
    await smtp?.stop();
  });

  const mailerFor = (port: number) => {
    const config = testConfig("sqlite::memory:", {
      EMAIL_BACKEND: "smtp",
      EMAIL_HOST: "127.0.0.1",
      EMAIL_PORT: String(port),
      EMAIL_HOST_USER: LOGIN.user,
      EMAIL_HOST_PASSWORD: LOGIN.pass,
      EMAIL_TIMEOUT: "3",
    });
    expect(config.email.useTls).toBe(false);
    mailer = createMailer({
      config: config.email,
      logger: createLogger("silent"),
      tlsCa: certificate.cert,
    });
    return mailer;
  };

  it("still logs in over STARTTLS when the server offers it", async () => {
    smtp = new TestSmtpServer({ certificate, auth: LOGIN });
    const port = await smtp.start();

    await mailerFor(port).send(MESSAGE);

    expect(smtp.logins).toEqual([{ user: LOGIN.user, secure: true }]);
    expect(smtp.received.map((mail) => mail.secure)).toEqual([true]);
  });

  it("never sends the login in clear to a server without STARTTLS, and says why", async () => {
    smtp = new TestSmtpServer({ certificate, auth: LOGIN, startTls: false });
    const port = await smtp.start();

    const failure = await mailerFor(port)
      .send(MESSAGE)
      .then(
        () => undefined,
        (error: Error) => error.message,
      );

    expect(failure).toBe(
      `Could not deliver through SMTP server 127.0.0.1:${port}: the server offers no STARTTLS, and with a login (EMAIL_HOST_USER) or EMAIL_USE_TLS=true nothing is sent in clear. Use a port with STARTTLS (587 or 2525), or implicit TLS on 465 with EMAIL_USE_SSL=true.`,
    );
    expect(smtp.logins).toEqual([]);
    expect(smtp.received).toEqual([]);
  });
});
