import { createHmac, timingSafeEqual } from "node:crypto";
import type { Kysely } from "kysely";
import type { Schema } from "../db/schema.js";

/** How far a signature's time may be from ours, either way. */
export const SIGNATURE_TOLERANCE_MS = 5 * 60_000;

export type SignatureCheck = "ok" | "malformed" | "expired" | "invalid" | "replayed";

/**
 * The value of `X-Davus-Signature` for `body` at `unixSeconds`:
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with a cron key>`.
 */
export function signTrigger(key: string, body: string, unixSeconds: number): string {
  const digest = createHmac("sha256", key).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${digest}`;
}

// TODO: the signed text is "<t>.<body>" as the trigger format was specified, so a signature
// does not bind the method, path or query: a request intercepted before it arrives could be
// sent once to another endpoint. A v2 that also signs "METHOD path?query" would close that.

/**
 * Verify a signed trigger against every current key. A signature is accepted once: it is
 * recorded, and a second use within the tolerance is a replay (after it, the time check
 * refuses it anyway).
 */
export async function verifyTrigger(options: {
  header: string;
  body: string;
  keys: string[];
  now: number;
  db: Kysely<Schema>;
}): Promise<SignatureCheck> {
  const match = /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(options.header.trim());
  if (!match) return "malformed";
  const seconds = Number(match[1]);
  const given = Buffer.from(match[2] as string, "hex");
  if (Math.abs(options.now - seconds * 1000) > SIGNATURE_TOLERANCE_MS) return "expired";

  let valid = false;
  for (const key of options.keys) {
    const expected = createHmac("sha256", key).update(`${seconds}.${options.body}`).digest();
    valid = timingSafeEqual(expected, given) || valid;
  }
  if (!valid) return "invalid";

  const { db, now } = options;
  await db
    .deleteFrom("trigger_signatures")
    .where("seen_at", "<", now - 2 * SIGNATURE_TOLERANCE_MS)
    .execute();
  const inserted = await db
    .insertInto("trigger_signatures")
    .values({ signature: match[2] as string, seen_at: now })
    .onConflict((conflict) => conflict.column("signature").doNothing())
    .executeTakeFirst();
  return Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1 ? "ok" : "replayed";
}
