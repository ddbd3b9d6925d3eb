import type { Clock } from '../clock.ts';

/** Slot width and sweep period: an item is ended at most about twice this after its moment. */
const SLOT_MS = 250;

/**
 * Things that end at a moment (sockets whose token expires), in quarter-second slots swept by one
 * timer for the whole instance: no timer per socket, and a tick costs only the slots that came
 * due. Times come from the clock (tests move it), so an item is ended on the first tick at or
 * after its moment.
 */
export class ExpiryWheel<T> {
  private readonly slots = new Map<number, Set<T>>();
  private readonly slotOf = new Map<T, number>();
  /** every slot up to this one has been swept; slots are numbered by start (slot × SLOT_MS) */
  private swept: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: (item: T) => void,
  ) {
    this.swept = this.slotsPast(clock.now().getTime());
    this.timer = setInterval(() => this.sweep(), SLOT_MS);
    this.timer.unref();
  }

  /** Ends `item` once the clock is past `atMs` (within a slot and a sweep); at once if it already is. */
  add(item: T, atMs: number): void {
    this.remove(item);
    if (atMs < this.clock.now().getTime()) return this.onDue(item);
    // the slot starting at or after the moment; it is swept once the clock is past its start
    const slot = Math.max(Math.ceil(atMs / SLOT_MS), this.swept + 1);
    let set = this.slots.get(slot);
    if (!set) this.slots.set(slot, (set = new Set()));
    set.add(item);
    this.slotOf.set(item, slot);
  }

  remove(item: T): void {
    const slot = this.slotOf.get(item);
    if (slot === undefined) return;
    this.slotOf.delete(item);
    const set = this.slots.get(slot);
    set?.delete(item);
    if (set?.size === 0) this.slots.delete(slot);
  }

  get size(): number {
    return this.slotOf.size;
  }

  /** @internal ends what is due; the timer calls it */
  sweep(): void {
    const now = this.slotsPast(this.clock.now().getTime());
    if (now <= this.swept) return;
    // usually one or two slots; after a long jump of the clock, only the slots that exist
    const due = now - this.swept <= this.slots.size ? range(this.swept + 1, now) : [...this.slots.keys()].filter((s) => s <= now);
    this.swept = now;
    for (const slot of due) {
      const set = this.slots.get(slot);
      if (!set) continue;
      this.slots.delete(slot);
      for (const item of set) {
        this.slotOf.delete(item);
        this.onDue(item);
      }
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.slots.clear();
    this.slotOf.clear();
  }

  /** The last slot whose start the clock is past (at its very start, a slot is not due yet). */
  private slotsPast(ms: number): number {
    return Math.ceil(ms / SLOT_MS) - 1;
  }
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}
