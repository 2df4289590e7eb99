import { describe, expect, it } from "vitest";
import { layoutBars, layoutUsage, MAX_SERIES, niceMax } from "./chart.ts";

describe("niceMax", () => {
  it("rounds up to 1, 2 or 5 times a power of ten", () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(1)).toBe(1);
    expect(niceMax(3)).toBe(5);
    expect(niceMax(7)).toBe(10);
    expect(niceMax(11)).toBe(20);
    expect(niceMax(200)).toBe(200);
    expect(niceMax(201)).toBe(500);
  });
});

describe("layoutBars", () => {
  const days = [
    { date: "2026-11-24", count: 0 },
    { date: "2026-11-25", count: 5 },
    { date: "2026-11-26", count: 10 },
  ];

  it("scales the tallest day to the full height", () => {
    const { bars, max, total } = layoutBars(days, 300, 100);
    expect(max).toBe(10);
    expect(total).toBe(15);
    expect(bars[2]).toMatchObject({ height: 100, y: 0 });
    expect(bars[1]).toMatchObject({ height: 50, y: 50 });
  });

  it("draws nothing for an unused day and something for a used one", () => {
    const { bars } = layoutBars([...days, { date: "2026-11-27", count: 1 }], 400, 100);
    expect(bars[0]?.height).toBe(0);
    const tiny = layoutBars(
      [
        { date: "a", count: 1 },
        { date: "b", count: 1000 },
      ],
      100,
      100,
    );
    expect(tiny.bars[0]?.height).toBe(2);
  });

  it("places one slot per day without overlap", () => {
    const { bars } = layoutBars(days, 300, 100, 2);
    expect(bars.map((b) => b.x)).toEqual([1, 101, 201]);
    expect(bars.every((b) => b.width === 98)).toBe(true);
  });

  it("copes with no data at all", () => {
    const empty = layoutBars([], 300, 100);
    expect(empty).toMatchObject({ bars: [], max: 1, total: 0, ticks: [0, 1] });
  });

  it("gives integer gridlines for small counts", () => {
    expect(layoutBars([{ date: "x", count: 3 }], 10, 10).ticks).toEqual([0, 1, 2, 3, 4, 5]);
    expect(layoutBars([{ date: "x", count: 30 }], 10, 10).ticks).toEqual([0, 25, 50]);
    expect(layoutBars([{ date: "x", count: 2 }], 10, 10).ticks).toEqual([0, 1, 2]);
  });
});

describe("layoutUsage", () => {
  const id = (n: number) => String(n).padStart(24, "0");
  const tok = (n: number, retrievals: number) => ({ tokenId: id(n), tokenName: `t${n}`, retrievals });

  it("stacks a day's retrievals by token, busiest token first, unattributed use on top", () => {
    const days = [
      { date: "d1", retrievals: 4, reveals: 1, tokens: [tok(1, 1), tok(2, 2)] },
      { date: "d2", retrievals: 1, reveals: 0, tokens: [tok(1, 1)] },
    ];
    const l = layoutUsage(days, 200, 100, 0);
    expect(l.series.filter((s) => s.total > 0).map((s) => [s.name, s.total])).toEqual([
      ["t1", 2],
      ["t2", 2],
      ["other (signed-in use)", 1],
    ]);
    expect([l.total, l.reveals, l.max]).toEqual([5, 1, 5]);
    const d1 = l.bars[0]!;
    expect(d1.segments.map((s) => s.count)).toEqual([1, 2, 1]);
    // Stacked bottom-up: each segment sits on the one before, the stack is as tall as the day.
    expect(d1.segments[0]!.y + d1.segments[0]!.height).toBe(100);
    expect(d1.segments[1]!.y + d1.segments[1]!.height).toBe(d1.segments[0]!.y);
    expect(d1.segments.reduce((h, s) => h + s.height, 0)).toBeCloseTo(80);
  });

  it("sums tokens beyond the first few as other tokens", () => {
    const tokens = Array.from({ length: MAX_SERIES + 2 }, (_, i) => tok(i, 10 - i));
    const total = tokens.reduce((n, t) => n + t.retrievals, 0);
    const l = layoutUsage([{ date: "d", retrievals: total, reveals: 0, tokens }], 100, 100);
    const named = l.series.filter((s) => s.total > 0);
    expect(named).toHaveLength(MAX_SERIES + 1);
    expect(named.at(-1)).toMatchObject({ name: "other tokens", total: 5 + 4 });
    expect(l.bars[0]!.segments.reduce((n, s) => n + s.count, 0)).toBe(total);
  });

  it("copes with no use at all", () => {
    const l = layoutUsage([{ date: "d", retrievals: 0, reveals: 2, tokens: [] }], 100, 100);
    expect([l.total, l.reveals, l.bars[0]!.segments]).toEqual([0, 2, []]);
  });
});
