/**
 * When each signaling request started and was answered (performance.now() ms), and
 * its depth: how many answers in a row it waited for, itself included. A join's
 * round trips are the deepest request it made; requests sent together count once.
 */
export type RequestTiming = { event: string; start: number; end?: number; depth: number };

export class RequestLog {
  readonly entries: RequestTiming[] = [];

  /** `after`: the request whose answer this one waited for. */
  start(event: string, after?: RequestTiming): RequestTiming {
    const entry: RequestTiming = {
      event,
      start: performance.now(),
      depth: (after?.depth ?? 0) + 1,
    };
    this.entries.push(entry);
    // Bounded: a long call must not grow this forever.
    if (this.entries.length > 200) this.entries.splice(0, 100);
    return entry;
  }

  end(entry: RequestTiming): void {
    entry.end = performance.now();
  }

  since(t: number): RequestTiming[] {
    return this.entries.filter((e) => e.start >= t);
  }
}

export function roundTrips(entries: readonly RequestTiming[]): number {
  return Math.max(0, ...entries.map((e) => e.depth));
}
