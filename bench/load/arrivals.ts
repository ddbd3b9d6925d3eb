/** What the client load processes share: when each profile version arrived, and waiting for it. */

import { now } from '../lib/stats.ts';

/** The last `"version":` number in a frame (the profile's), without parsing the JSON. */
export function versionOf(frame: string): number | undefined {
  const at = frame.lastIndexOf('"version":');
  if (at < 0) return undefined;
  return parseInt(frame.slice(at + 10, at + 22), 10);
}

/** Wakes everyone waiting in `until` when something they may be waiting for happened. */
export class Signal {
  private waiters: (() => void)[] = [];

  notify(): void {
    if (this.waiters.length === 0) return;
    const current = this.waiters;
    this.waiters = [];
    for (const w of current) w();
  }

  /** Resolves once `done()` holds (true) or `timeoutMs` passed (false), looking again at each notify. */
  async until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (done()) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/** Arrival times (absolute ms) of deliveries per profile version. */
export class Arrivals {
  private readonly byVersion = new Map<number, number[]>();

  constructor(private readonly signal: Signal) {}

  record(version: number): void {
    let list = this.byVersion.get(version);
    if (!list) this.byVersion.set(version, (list = []));
    list.push(now());
    this.signal.notify();
  }

  clear(): void {
    this.byVersion.clear();
  }

  /** The arrival times of `version` once `count` arrived, or what arrived within `timeoutMs`. */
  async track(version: number, count: number, timeoutMs: number): Promise<{ times: number[]; complete: boolean }> {
    const complete = await this.signal.until(() => (this.byVersion.get(version)?.length ?? 0) >= count, timeoutMs);
    return { times: (this.byVersion.get(version) ?? []).slice(), complete };
  }
}
