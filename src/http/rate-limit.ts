/**
 * Counts failed authentications per client address in a sliding window. An address over the
 * limit has its failures answered with 429 until its oldest failure leaves the window. Valid
 * calls are never counted, slowed or refused.
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limit = 10,
    private readonly windowMs = 60_000,
    private readonly maxAddresses = 10_000,
  ) {}

  /** Seconds until `address` may try again, or 0 when it may now. */
  retryAfter(address: string, now: number): number {
    const times = this.recent(address, now);
    if (times.length < this.limit) return 0;
    return Math.max(1, Math.ceil(((times[0] as number) + this.windowMs - now) / 1000));
  }

  fail(address: string, now: number): void {
    const times = this.recent(address, now);
    times.push(now);
    // Re-insert so the map's order is the least recently failed first, for eviction.
    this.failures.delete(address);
    this.failures.set(address, times);
    if (this.failures.size > this.maxAddresses) {
      this.failures.delete(this.failures.keys().next().value as string);
    }
  }

  private recent(address: string, now: number): number[] {
    const times = (this.failures.get(address) ?? []).filter((time) => now - time < this.windowMs);
    if (times.length === 0) this.failures.delete(address);
    return times;
  }
}
