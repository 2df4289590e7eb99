import { describe, expect, it } from "vitest";
import { daysUntil, EXPIRY_WARNING_DAYS, expiryNeedsAttention, expiryStatus } from "./expiry.ts";

describe("expiryStatus", () => {
  it("says so when a key never expires", () => {
    expect(expiryStatus(undefined)).toEqual({ label: "no expiry", tone: "none" });
  });
  it("counts the days left", () => {
    expect(expiryStatus(5)).toEqual({ label: "expires in 5 days", tone: "soon" });
    expect(expiryStatus(1)).toEqual({ label: "expires in 1 day", tone: "soon" });
    expect(expiryStatus(0)).toEqual({ label: "expires today", tone: "soon" });
  });
  it("highlights within 14 days, not beyond", () => {
    expect(expiryStatus(EXPIRY_WARNING_DAYS).tone).toBe("soon");
    expect(expiryStatus(EXPIRY_WARNING_DAYS + 1)).toEqual({ label: "expires in 15 days", tone: "ok" });
  });
  it("calls past expiries expired", () => {
    expect(expiryStatus(-1)).toEqual({ label: "expired", tone: "expired" });
    expect(expiryStatus(-400).label).toBe("expired");
  });
});

describe("expiryNeedsAttention", () => {
  it("is true for expired and soon, false otherwise", () => {
    expect(expiryNeedsAttention(-3)).toBe(true);
    expect(expiryNeedsAttention(14)).toBe(true);
    expect(expiryNeedsAttention(15)).toBe(false);
    expect(expiryNeedsAttention(undefined)).toBe(false);
  });
});

describe("daysUntil", () => {
  const now = new Date("2026-11-26T12:00:00Z");
  it("counts whole days, negative once past", () => {
    expect(daysUntil(new Date("2026-12-01T12:00:00Z"), now)).toBe(5);
    expect(daysUntil(new Date("2026-12-01T11:00:00Z"), now)).toBe(4);
    expect(daysUntil(new Date("2026-11-26T11:00:00Z"), now)).toBe(-1);
  });
});
