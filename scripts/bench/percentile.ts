// The benchmarks' latency figures: nearest-rank percentiles, as each prints them.

/** The nearest-rank `p`th percentile of `values` (any order); NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}
