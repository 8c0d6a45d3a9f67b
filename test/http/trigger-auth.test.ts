import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FakeClock } from "../../src/clock.js";
import { signTrigger } from "../../src/http/signature.js";
import type { Service } from "../../src/runtime.js";
import { ROTATED_KEY, TEST_KEY } from "../support/config.js";
import { engines } from "../support/databases.js";
import { postTick, startTestService } from "../support/service.js";

const TICK = "/api/v1/jobs/tick/";
const BODY = JSON.stringify({ source: "github-actions", run: 4812 });
const WINDOW_MS = 60_000;

describe.each(engines)("trigger authentication on the real server ($name)", (engine) => {
  const clock = new FakeClock("2026-03-02T12:00:00Z");
  let service: Service;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    ({ service, dispose } = await startTestService({ engine, clock, schedules: [] }));
  });

  afterAll(async () => {
    await dispose?.();
  });

  beforeEach(() => {
    // Every test comes from 127.0.0.1: let the failures of the test before leave the window.
    clock.advance(WINDOW_MS + 1_000);
  });

  const unixSeconds = () => Math.floor(clock.now() / 1000);

  const signedTick = (signature: string, body = BODY) =>
    fetch(`${service.url}${TICK}`, {
      method: "POST",
      headers: { "x-davus-signature": signature, "content-type": "application/json" },
      body,
    });

  const keyedTick = (key: string) => postTick(service, { key });

  const errorOf = async (response: Response) =>
    ((await response.json()) as { error: string; message: string }).error;

  describe("signatures", () => {
    it("accepts a tick signed with the first key and the server's time", async () => {
      const response = await signedTick(signTrigger(TEST_KEY, BODY, unixSeconds()));

      expect(response.status).toBe(200);
      expect(((await response.json()) as { status: string }).status).toBe("success");
    });

    it("accepts a tick signed with the rotated second key", async () => {
      const response = await signedTick(signTrigger(ROTATED_KEY, BODY, unixSeconds()));

      expect(response.status).toBe(200);
    });

    it("accepts a signature 4 min 59 s old, inside the 5-minute tolerance", async () => {
      const response = await signedTick(signTrigger(TEST_KEY, BODY, unixSeconds() - 299));

      expect(response.status).toBe(200);
    });

    it.each([
      ["6 minutes old", -360],
      ["6 minutes ahead", 360],
    ])("answers 401 expired_signature for a signature %s", async (_what, offsetSeconds) => {
      const response = await signedTick(signTrigger(TEST_KEY, BODY, unixSeconds() + offsetSeconds));

      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe('Api-Key realm="davus"');
      expect(await errorOf(response)).toBe("expired_signature");
    });

    it("answers 401 replayed_signature for the same header and body sent twice", async () => {
      const signature = signTrigger(TEST_KEY, BODY, unixSeconds());

      const first = await signedTick(signature);
      const second = await signedTick(signature);

      expect(first.status).toBe(200);
      expect(second.status).toBe(401);
      expect(await errorOf(second)).toBe("replayed_signature");
    });

    it("accepts a signature sent 5 times at once only once; the others are replays", async () => {
      const signature = signTrigger(TEST_KEY, BODY, unixSeconds());

      const responses = await Promise.all(Array.from({ length: 5 }, () => signedTick(signature)));

      const statuses = responses.map((response) => response.status).sort();
      expect(statuses).toEqual([200, 401, 401, 401, 401]);
      const refused = responses.filter((response) => response.status === 401);
      expect(await Promise.all(refused.map(errorOf))).toEqual(Array(4).fill("replayed_signature"));
    });

    it("answers 403 invalid_signature when the body differs from the signed one", async () => {
      const signature = signTrigger(TEST_KEY, BODY, unixSeconds());

      const response = await signedTick(signature, BODY.replace("4812", "4813"));

      expect(response.status).toBe(403);
      expect(await errorOf(response)).toBe("invalid_signature");
    });

    it("answers 403 invalid_signature for a signature made with a key the server does not hold", async () => {
      const response = await signedTick(signTrigger("not-a-cron-key", BODY, unixSeconds()));

      expect(response.status).toBe(403);
      expect(await errorOf(response)).toBe("invalid_signature");
    });

    it.each([
      ["no v1 part", () => `t=${unixSeconds()}`],
      ["a short digest", () => `t=${unixSeconds()},v1=abc123`],
      ["upper-case hex", () => signTrigger(TEST_KEY, BODY, unixSeconds()).toUpperCase()],
      ["a time that is not a number", () => `t=now,v1=${"0".repeat(64)}`],
      [
        "the parts swapped",
        () => signTrigger(TEST_KEY, BODY, unixSeconds()).split(",").reverse().join(","),
      ],
    ])("answers 401 malformed_signature for %s", async (_what, header) => {
      const response = await signedTick(header());

      expect(response.status).toBe(401);
      expect(await errorOf(response)).toBe("malformed_signature");
    });
  });

  describe("failure limit", () => {
    it("answers the 11th failure with 429 and Retry-After, and still lets a valid key through", async () => {
      const failures: number[] = [];
      for (let attempt = 0; attempt < 10; attempt++) {
        failures.push((await keyedTick("wrong-key")).status);
      }

      const refused = await keyedTick("wrong-key");
      const valid = await keyedTick(TEST_KEY);
      const signed = await signedTick(signTrigger(TEST_KEY, BODY, unixSeconds()));

      expect(failures).toEqual(Array(10).fill(403));
      expect(refused.status).toBe(429);
      expect(refused.headers.get("retry-after")).toBe("60");
      expect(await errorOf(refused)).toBe("too_many_failures");
      // A stranger behind the cron's address cannot lock the cron out.
      expect(valid.status).toBe(200);
      expect(signed.status).toBe(200);
    });

    it("refuses 10 of 20 wrong keys sent at once with 429: the limit holds for a burst", async () => {
      const responses = await Promise.all(Array.from({ length: 20 }, () => keyedTick("wrong-key")));

      const statuses = responses.map((response) => response.status).sort();
      expect(statuses).toEqual([...Array(10).fill(403), ...Array(10).fill(429)]);
    });

    it("counts failed signatures and bad keys together", async () => {
      for (let attempt = 0; attempt < 5; attempt++) {
        await signedTick(signTrigger("not-a-cron-key", BODY, unixSeconds()));
        await keyedTick("wrong-key");
      }

      const refused = await signedTick(signTrigger("not-a-cron-key", BODY, unixSeconds()));

      expect(refused.status).toBe(429);
    });

    it("lets the address try again once the oldest failure leaves the 60 s window", async () => {
      for (let attempt = 0; attempt < 10; attempt++) await keyedTick("wrong-key");

      clock.advance(30_000);
      const halfway = await keyedTick("wrong-key");
      clock.advance(31_000);
      const after = await keyedTick("wrong-key");

      expect(halfway.status).toBe(429);
      expect(halfway.headers.get("retry-after")).toBe("30");
      expect(after.status).toBe(403);
    });

    it("never refuses a valid key: 30 valid calls in a row all answer 200", async () => {
      const statuses: number[] = [];
      for (let call = 0; call < 30; call++) statuses.push((await keyedTick(TEST_KEY)).status);

      expect(statuses).toEqual(Array(30).fill(200));
    });

    it("does not count 9 failures and then valid calls as a block: the valid calls pass", async () => {
      for (let attempt = 0; attempt < 9; attempt++) await keyedTick("wrong-key");

      const statuses: number[] = [];
      for (let call = 0; call < 5; call++) statuses.push((await keyedTick(TEST_KEY)).status);

      expect(statuses).toEqual(Array(5).fill(200));
    });
  });
});
