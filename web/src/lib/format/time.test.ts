import { describe, expect, it } from "vitest";
import { dateInputValue, dateTime, expiryFromDateInput, isoDate, relativeTime } from "./time.ts";

const now = new Date("2026-11-26T12:00:00Z");
const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000);

describe("relativeTime", () => {
  it("says never for a missing time", () => {
    expect(relativeTime(undefined, now)).toBe("never");
  });
  it("rounds to the unit people use", () => {
    expect(relativeTime(ago(10), now)).toBe("just now");
    expect(relativeTime(ago(60), now)).toBe("1 min ago");
    expect(relativeTime(ago(5 * 60), now)).toBe("5 min ago");
    expect(relativeTime(ago(3 * 3600 + 200), now)).toBe("3 h ago");
    expect(relativeTime(ago(86_400), now)).toBe("1 day ago");
    expect(relativeTime(ago(2 * 86_400 + 3600), now)).toBe("2 days ago");
  });
  it("speaks of the future too", () => {
    expect(relativeTime(ago(-2 * 3600), now)).toBe("in 2 h");
  });
  it("falls back to the date for old times", () => {
    expect(relativeTime(new Date("2026-01-31T08:00:00Z"), now)).toBe("on 2026-01-31");
  });
});

describe("dates", () => {
  it("formats UTC dates and times", () => {
    expect(isoDate(now)).toBe("2026-11-26");
    expect(dateTime(now)).toBe("2026-11-26 12:00 UTC");
    expect(dateTime(undefined)).toBe("—");
  });
  it("turns a picked date into the end of that UTC day and back", () => {
    const expiry = expiryFromDateInput("2026-12-31");
    expect(expiry?.toISOString()).toBe("2026-12-31T23:59:59.000Z");
    expect(dateInputValue(expiry)).toBe("2026-12-31");
  });
  it("ignores empty and malformed dates", () => {
    expect(expiryFromDateInput("")).toBeUndefined();
    expect(expiryFromDateInput("31/12/2026")).toBeUndefined();
    expect(expiryFromDateInput("2026-13-45")).toBeUndefined();
    expect(dateInputValue(undefined)).toBe("");
  });
});
