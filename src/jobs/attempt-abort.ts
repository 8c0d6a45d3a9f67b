/**
 * The abort of one attempt (timeout, lease lost, shutdown). Most handlers never look at
 * their AbortSignal, and an AbortController costs more than a no-op job, so the signal is
 * made only when the handler first reads it; the engine itself listens through `onAbort`.
 */
export class AttemptAbort {
  private controller: AbortController | undefined;
  private reason: unknown;
  private aborted = false;
  private listener: ((reason: unknown) => void) | undefined;

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.aborted && !this.controller.signal.aborted) this.controller.abort(this.reason);
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    this.listener?.(reason);
  }

  /** Call `listener` on abort, at once if the attempt is aborted already. */
  onAbort(listener: (reason: unknown) => void): void {
    if (this.aborted) listener(this.reason);
    else this.listener = listener;
  }
}
