import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context, MiddlewareHandler } from "hono";
import type { Clock } from "../clock.js";
import type { Database } from "../db/database.js";
import type { Logger } from "../logger.js";
import type { KeyRing } from "./auth.js";
import { errorResponse } from "./http-errors.js";
import type { FailureLimiter } from "./rate-limit.js";
import { verifyTrigger } from "./signature.js";

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

/**
 * Lets a request through with a valid key (`Authorization: Api-Key <key>` or `Bearer <key>`)
 * or a valid signature (`X-Davus-Signature`). Failures are counted per client address, and
 * an address with too many is refused with 429 before anything else is checked.
 */
export function requireTrigger(options: GuardOptions): MiddlewareHandler {
  const { keys, rawKeys, limiter, database, clock, logger, trustProxy } = options;

  return async (c, next) => {
    const address = clientAddress(c, trustProxy);
    const now = clock.now();
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

    const fail = (status: 401 | 403, error: string, message: string) => {
      limiter.fail(address, now);
      logger.info({ address, error }, "authentication failed");
      return errorResponse(c, status, { error, message }, status === 401 ? CHALLENGE : undefined);
    };

    const signature = c.req.header("x-davus-signature");
    if (signature !== undefined) {
      const check = await verifyTrigger({
        header: signature,
        body: await c.req.text(),
        keys: rawKeys,
        now,
        db: database.db,
      });
      if (check === "ok") return next();
      if (check === "malformed") {
        return fail(
          401,
          "malformed_signature",
          "X-Davus-Signature must be t=<unix seconds>,v1=<64 hex digits>.",
        );
      }
      if (check === "expired") {
        return fail(
          401,
          "expired_signature",
          "The signature's time is more than 5 minutes from the server's; sign each request anew.",
        );
      }
      if (check === "replayed") {
        return fail(
          401,
          "replayed_signature",
          "This signature was used before; sign each request anew.",
        );
      }
      return fail(
        403,
        "invalid_signature",
        "The signature does not match the body with any current key.",
      );
    }

    const check = keys.checkHeader(c.req.header("authorization"));
    if (check === "ok") return next();
    if (check === "missing") {
      return fail(401, "missing_credentials", "Send the header Authorization: Api-Key <key>.");
    }
    if (check === "malformed") {
      return fail(
        401,
        "malformed_credentials",
        "The Authorization header must be Api-Key <key> or Bearer <key>.",
      );
    }
    return fail(403, "invalid_key", "The key is not valid.");
  };
}
