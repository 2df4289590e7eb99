import { describe, expect, it } from "vitest";
import { layoutBars, niceMax } from "./chart.ts";

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
