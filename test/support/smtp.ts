import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type ParsedMail, simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  from: string;
  to: string[];
  /** True when the message came over TLS (STARTTLS here). */
  secure: boolean;
  user: string | undefined;
  parsed: ParsedMail;
  raw: string;
}

/** A self-signed certificate for localhost, made with openssl for this test run. */
export function makeCertificate(): { key: string; cert: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "davus-cert-"));
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout",
        path.join(dir, "key.pem"),
        "-out",
        path.join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    return {
      key: fs.readFileSync(path.join(dir, "key.pem"), "utf8"),
      cert: fs.readFileSync(path.join(dir, "cert.pem"), "utf8"),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface TestSmtpOptions {
  certificate: { key: string; cert: string };
  /** When set, the server requires this login, over TLS only. */
  auth?: { user: string; pass: string };
  /**
   * False: offer no STARTTLS, and take a login in clear (recorded in `logins`), as a badly
   * set up relay would.
   */
  startTls?: boolean;
}

/**
 * A real SMTP server on loopback that offers STARTTLS and keeps what it receives. It can
 * be stopped and started again on the same port, to play an outage.
 */
export class TestSmtpServer {
  readonly received: ReceivedMail[] = [];
  /** The user names of the logins tried, and whether each came over TLS. */
  readonly logins: { user: string; secure: boolean }[] = [];
  port = 0;
  private server: SMTPServer | undefined;

  constructor(private readonly options: TestSmtpOptions) {}

  async start(port = this.port): Promise<number> {
    const { certificate, auth, startTls = true } = this.options;
    const server = new SMTPServer({
      secure: false,
      key: certificate.key,
      cert: certificate.cert,
      logger: false,
      closeTimeout: 100,
      authOptional: auth === undefined,
      allowInsecureAuth: !startTls,
      disabledCommands: startTls ? [] : ["STARTTLS"],
      onAuth: (credentials, session, callback) => {
        this.logins.push({ user: credentials.username ?? "", secure: session.secure });
        if (auth && credentials.username === auth.user && credentials.password === auth.pass) {
          callback(null, { user: credentials.username });
        } else {
          callback(new Error("Invalid username or password"));
        }
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("end", () => {
          const raw = Buffer.concat(chunks);
          simpleParser(raw).then(
            (parsed) => {
              this.received.push({
                from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
                to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
                secure: session.secure,
                user: session.user as string | undefined,
                parsed,
                raw: raw.toString("utf8"),
              });
              callback();
            },
            (error: Error) => callback(error),
          );
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    server.on("error", () => {});
    this.server = server;
    this.port = (server.server.address() as { port: number }).port;
    return this.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
