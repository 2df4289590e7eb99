// Scaling for the usage chart: one bar per day, a "nice" top value and gridline ticks.

export interface DayCount {
  date: string;
  count: number;
}

export interface Bar extends DayCount {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface ChartLayout {
  bars: Bar[];
  max: number;
  ticks: number[];
  total: number;
}

/** The smallest of 1, 2, 5 × 10ⁿ (n ≥ 0) at or above `value`; at least 1. */
export function niceMax(value: number): number {
  if (!(value > 1)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (step * magnitude >= value) return step * magnitude;
  }
  return 10 * magnitude;
}

/**
 * Lays out bars in a `width` × `height` plot area. A day with a count gets at least 2 px so
 * it is visible; a day without use gets none.
 */
export function layoutBars(days: readonly DayCount[], width: number, height: number, gap = 2): ChartLayout {
  const total = days.reduce((sum, d) => sum + d.count, 0);
  const max = niceMax(Math.max(0, ...days.map((d) => d.count)));
  const slot = days.length > 0 ? width / days.length : width;
  const barWidth = Math.max(1, slot - gap);
  const bars = days.map((d, i) => {
    const raw = (d.count / max) * height;
    const h = d.count > 0 ? Math.max(2, raw) : 0;
    return { ...d, x: i * slot + gap / 2, y: height - h, width: barWidth, height: h };
  });
  const ticks = max <= 5 ? Array.from({ length: max + 1 }, (_, i) => i) : [0, max / 2, max];
  return { bars, max, ticks, total };
}
