import { createHash, timingSafeEqual } from "node:crypto";

export type KeyCheck = "ok" | "missing" | "malformed" | "wrong";

/**
 * Holds the valid keys as SHA-256 digests. Comparing digests of equal length with
 * `timingSafeEqual`, against every key without stopping early, takes the same time
 * whatever the candidate's length or how much of it matches.
 */
export class KeyRing {
  private readonly digests: Buffer[];

  constructor(keys: string[]) {
    this.digests = keys.map(digest);
  }

  get size(): number {
    return this.digests.length;
  }

  /** True when `candidate` is one of the keys. */
  matches(candidate: string): boolean {
    const theirs = digest(candidate);
    let found = false;
    for (const ours of this.digests) found = timingSafeEqual(ours, theirs) || found;
    return found;
  }

  /** Check an `Authorization` header: `Api-Key <key>` or `Bearer <key>`. */
  checkHeader(header: string | undefined): KeyCheck {
    if (header === undefined || header.trim() === "") return "missing";
    const match = /^(Api-Key|Bearer)\s+(\S+)\s*$/i.exec(header.trim());
    if (!match) return "malformed";
    return this.matches(match[2] as string) ? "ok" : "wrong";
  }

  /** The key digests, for signing checks that must try every key. */
  forEach(visit: (key: Buffer) => void): void {
    for (const key of this.digests) visit(key);
  }
}

function digest(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}
