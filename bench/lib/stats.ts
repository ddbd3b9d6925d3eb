/** Nearest-rank percentile of unsorted samples (p in 0..100). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  rounds: number[];
}

/** Median, min and max of one figure over rounds. */
export function spread(rounds: readonly number[]): Spread {
  return { median: round(percentileMedian(rounds)), min: round(Math.min(...rounds)), max: round(Math.max(...rounds)), rounds: rounds.map(round) };
}

function percentileMedian(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export const round = (n: number, digits = 2) => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : n);

/** Absolute time in ms with sub-ms resolution, comparable between processes on one machine. */
export const now = () => performance.timeOrigin + performance.now();

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
