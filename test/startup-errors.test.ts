import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../src/logger.js";
import { connectDatabase, startService } from "../src/runtime.js";
import { testConfig } from "./support/config.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "davus-startup-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A loopback port nothing listens on: bound, read, and closed again. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function refusal(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("expected a refusal");
}

describe("a start-up that cannot go on", () => {
  it("names DATABASE_URL and the server, not the password, when PostgreSQL does not answer", async () => {
    const port = await closedPort();
    const config = testConfig(`postgres://davus:pw-55qq@127.0.0.1:${port}/davus`);

    const message = await refusal(connectDatabase(config));

    expect(message).toBe(
      `Could not reach the database of DATABASE_URL (postgres://127.0.0.1:${port}/davus): connect ECONNREFUSED 127.0.0.1:${port}`,
    );
  });

  it("names DATABASE_URL when the SQLite file cannot be made", async () => {
    const file = path.join(dir, "a-file");
    fs.writeFileSync(file, "");
    const config = testConfig(`sqlite:${file}/davus.sqlite`);

    const message = await refusal(connectDatabase(config));

    expect(message).toMatch(
      new RegExp(
        `^Could not reach the database of DATABASE_URL \\(sqlite:${file}/davus.sqlite\\): E`,
      ),
    );
  });

  it("names HOST and PORT when the address cannot be listened on", async () => {
    const config = testConfig(`sqlite:${path.join(dir, "listen.sqlite")}`, {
      HOST: "192.0.2.1",
      PORT: "8123",
    });

    const message = await refusal(startService({ config, logger: createLogger("silent") }));

    expect(message).toMatch(/^Could not listen on HOST 192\.0\.2\.1, PORT 8123: .*EADDRNOTAVAIL/);
  });
});
