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

/** One day of a key's use as the chart shows it: retrievals by token, and reveals apart. */
export interface UsageDayView {
  date: string;
  retrievals: number;
  reveals: number;
  tokens: readonly { tokenId: string; tokenName: string; retrievals: number }[];
}

export interface Series {
  /** A token id, or "" for retrievals no token is named for (a session, or older counts). */
  id: string;
  name: string;
  total: number;
}

export interface Segment {
  series: number;
  count: number;
  y: number;
  height: number;
}

export interface StackedBar {
  date: string;
  count: number;
  x: number;
  width: number;
  segments: Segment[];
}

export interface StackedLayout {
  series: Series[];
  bars: StackedBar[];
  max: number;
  ticks: number[];
  total: number;
  reveals: number;
}

/** At most this many tokens get their own colour; the rest are summed as "other tokens". */
export const MAX_SERIES = 5;

/**
 * Splits each day's retrievals by token (the busiest tokens first, the rest as "other
 * tokens", what no token accounts for as "other"), stacked bottom-up in series order.
 */
export function layoutUsage(days: readonly UsageDayView[], width: number, height: number, gap = 1): StackedLayout {
  const totals = new Map<string, { name: string; total: number }>();
  for (const d of days) {
    for (const t of d.tokens) {
      const s = totals.get(t.tokenId) ?? { name: t.tokenName, total: 0 };
      s.total += t.retrievals;
      if (t.tokenName) s.name = t.tokenName;
      totals.set(t.tokenId, s);
    }
  }
  const ranked = [...totals.entries()]
    .map(([id, s]) => ({ id, name: s.name || "deleted token", total: s.total }))
    .sort((a, b) => b.total - a.total || a.id.localeCompare(b.id));
  const named = ranked.slice(0, MAX_SERIES);
  const rest = ranked.slice(MAX_SERIES);
  const series: Series[] = [...named];
  const otherTokens = rest.length ? series.push({ id: "*", name: "other tokens", total: 0 }) - 1 : -1;
  const unnamed = series.push({ id: "", name: "other (signed-in use)", total: 0 }) - 1;
  const index = new Map(named.map((s, i) => [s.id, i]));

  const { max, ticks } = layoutBars(
    days.map((d) => ({ date: d.date, count: d.retrievals })),
    width,
    height,
    gap,
  );
  const slot = days.length > 0 ? width / days.length : width;
  const barWidth = Math.max(1, slot - gap);
  let total = 0;
  let reveals = 0;
  const bars = days.map((d, i) => {
    total += d.retrievals;
    reveals += d.reveals;
    const counts = new Array<number>(series.length).fill(0);
    let attributed = 0;
    for (const t of d.tokens) {
      counts[index.get(t.tokenId) ?? otherTokens]! += t.retrievals;
      attributed += t.retrievals;
    }
    counts[unnamed]! += Math.max(0, d.retrievals - attributed);
    let top = height;
    const segments: Segment[] = [];
    for (const [s, count] of counts.entries()) {
      if (count === 0) continue;
      if (s === otherTokens || s === unnamed) series[s]!.total += count;
      const h = Math.max(2, (count / max) * height);
      top -= h;
      segments.push({ series: s, count, y: top, height: h });
    }
    return { date: d.date, count: d.retrievals, x: i * slot + gap / 2, width: barWidth, segments };
  });
  // Series keep their index (segments refer to it); a legend skips those with no use.
  return { series, bars, max, ticks, total, reveals };
}
