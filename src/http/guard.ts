import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context, MiddlewareHandler } from "hono";
import type { Clock } from "../clock.js";
import type { Database } from "../db/database.js";
import type { Logger } from "../logger.js";
import type { KeyCheck, KeyRing } from "./auth.js";
import { errorResponse } from "./http-errors.js";
import type { FailureLimiter } from "./rate-limit.js";
import { type SignatureCheck, verifyTrigger } from "./signature.js";

export interface GuardOptions {
  keys: KeyRing;
  rawKeys: string[];
  limiter: FailureLimiter;
  database: Database;
  clock: Clock;
  logger: Logger;
  trustProxy: boolean;
}

const CHALLENGE = { "WWW-Authenticate": 'Api-Key realm="davus"' };

/**
 * The client's address: the socket's, or behind a trusted proxy the last address in
 * X-Forwarded-For, the one the proxy itself appended. Earlier entries come from the client
 * and could be anything it likes, which would let it dodge the rate limit.
 */
export function clientAddress(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = c.req.header("x-forwarded-for")?.split(",").at(-1)?.trim();
    if (forwarded) return forwarded;
  }
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown";
  }
}

type Refusal = { status: 401 | 403; error: string; message: string };

const SIGNATURE_REFUSALS: Record<Exclude<SignatureCheck, "ok">, Refusal> = {
  malformed: {
    status: 401,
    error: "malformed_signature",
    message: "X-Davus-Signature must be t=<unix seconds>,v1=<64 hex digits>.",
  },
  expired: {
    status: 401,
    error: "expired_signature",
    message:
      "The signature's time is more than 5 minutes from the server's; sign each request anew.",
  },
  replayed: {
    status: 401,
    error: "replayed_signature",
    message: "This signature was used before; sign each request anew.",
  },
  invalid: {
    status: 403,
    error: "invalid_signature",
    message: "The signature does not match the body with any current key.",
  },
};

const KEY_REFUSALS: Record<Exclude<KeyCheck, "ok">, Refusal> = {
  missing: {
    status: 401,
    error: "missing_credentials",
    message: "Send the header Authorization: Api-Key <key>.",
  },
  malformed: {
    status: 401,
    error: "malformed_credentials",
    message: "The Authorization header must be Api-Key <key> or Bearer <key>.",
  },
  wrong: { status: 403, error: "invalid_key", message: "The key is not valid." },
};

/**
 * Lets a request through with a valid key (`Authorization: Api-Key <key>` or `Bearer <key>`)
 * or a valid signature (`X-Davus-Signature`). Failures are counted per client address; an
 * address with too many gets 429 for its failures until the window has passed, while a
 * valid call from it still goes through, so that a stranger behind the same address as the
 * cron cannot lock the cron out.
 */
export function requireTrigger(options: GuardOptions): MiddlewareHandler {
  const { keys, rawKeys, limiter, database, clock, logger, trustProxy } = options;

  const check = async (c: Context, now: number): Promise<Refusal | undefined> => {
    const signature = c.req.header("x-davus-signature");
    if (signature !== undefined) {
      const verdict = await verifyTrigger({
        header: signature,
        body: await c.req.text(),
        keys: rawKeys,
        now,
        db: database.db,
      });
      return verdict === "ok" ? undefined : SIGNATURE_REFUSALS[verdict];
    }
    const verdict = keys.checkHeader(c.req.header("authorization"));
    return verdict === "ok" ? undefined : KEY_REFUSALS[verdict];
  };

  return async (c, next) => {
    const address = clientAddress(c, trustProxy);
    const now = clock.now();
    const refusal = await check(c, now);
    if (refusal === undefined) return next();

    const wait = limiter.retryAfter(address, now);
    if (wait > 0) {
      logger.info({ address }, "authentication refused: too many failures");
      return errorResponse(
        c,
        429,
        {
          error: "too_many_failures",
          message: `Too many failed attempts from this address; try again in ${wait} s.`,
        },
        { "Retry-After": String(wait) },
      );
    }
    limiter.fail(address, now);
    logger.info({ address, error: refusal.error }, "authentication failed");
    return errorResponse(
      c,
      refusal.status,
      { error: refusal.error, message: refusal.message },
      refusal.status === 401 ? CHALLENGE : undefined,
    );
  };
}
