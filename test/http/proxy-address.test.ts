import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Service, startService } from "../../src/runtime.js";
import { TEST_KEY, testConfig } from "../support/config.js";
import { engines } from "../support/databases.js";

const sqlite = engines[0]!;

describe("the client address behind a trusted proxy", () => {
  let service: Service;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const created = await sqlite.create();
    drop = created.drop;
    service = await startService({
      config: testConfig(created.url, { TRUST_PROXY: "true" }),
      schedules: [],
    });
  });

  afterAll(async () => {
    await service.stop(1_000);
    await drop();
  });

  const tick = (forwardedFor: string, key = "wrong-key") =>
    fetch(`${service.url}/api/v1/jobs/tick/`, {
      method: "POST",
      headers: { authorization: `Api-Key ${key}`, "x-forwarded-for": forwardedFor },
    });

  it("is the address the proxy appended, so a client cannot dodge the limit by forging the first", async () => {
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 11; attempt++) {
      statuses.push((await tick(`198.51.100.${attempt}, 203.0.113.7`)).status);
    }
    expect(statuses).toEqual([...Array(10).fill(403), 429]);

    // Another client behind the same proxy is not blocked, and valid keys pass.
    expect((await tick("203.0.113.8")).status).toBe(403);
    expect((await tick("203.0.113.9", TEST_KEY)).status).toBe(200);
  });
});
