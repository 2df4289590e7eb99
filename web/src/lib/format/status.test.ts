import { describe, expect, it } from "vitest";
import { checkedLabel, creditsLabel, needsAttention, retryLabel, validationBadge } from "./status.ts";

describe("validationBadge", () => {
  it("labels every status the wallet reports", () => {
    expect(validationBadge("valid")).toEqual({ label: "valid", tone: "good" });
    expect(validationBadge("invalid")).toEqual({ label: "invalid", tone: "bad" });
    expect(validationBadge("rate_limited").label).toBe("rate limited");
    expect(validationBadge("quota_exceeded").label).toBe("quota exceeded");
    expect(validationBadge("unreachable").tone).toBe("warn");
    expect(validationBadge("unverified").tone).toBe("neutral");
  });
  it("reads a missing or unknown status as unverified", () => {
    expect(validationBadge(undefined).label).toBe("unverified");
    expect(validationBadge("").label).toBe("unverified");
    expect(validationBadge("something_new").label).toBe("unverified");
  });
  it("has one wording for a key never checked", () => {
    expect(validationBadge("unverified", false)).toEqual({ label: "not checked yet", tone: "neutral" });
    expect(validationBadge(undefined, false).label).toBe("not checked yet");
    expect(validationBadge("rate_limited", false).label).toBe("rate limited");
  });
});

describe("checkedLabel", () => {
  const now = new Date("2026-11-26T12:00:00Z");
  it("says when the key was last checked", () => {
    expect(checkedLabel(new Date("2026-11-26T09:00:00Z"), now)).toBe("checked 3 h ago");
    expect(checkedLabel(undefined, now)).toBe("not checked yet");
  });
});

describe("retryLabel", () => {
  it("rounds long waits to minutes", () => {
    expect(retryLabel(30)).toBe("retry in 30 s");
    expect(retryLabel(600)).toBe("retry in 10 min");
    expect(retryLabel(undefined)).toBeUndefined();
    expect(retryLabel(0)).toBeUndefined();
  });
});

describe("needsAttention", () => {
  it("matches the wallet's filter", () => {
    expect(needsAttention("invalid", undefined)).toBe(true);
    expect(needsAttention("quota_exceeded", 100)).toBe(true);
    expect(needsAttention("valid", 3)).toBe(true);
    expect(needsAttention("valid", -1)).toBe(true);
    expect(needsAttention("valid", 30)).toBe(false);
    expect(needsAttention("unreachable", undefined)).toBe(false);
    expect(needsAttention("rate_limited", undefined)).toBe(false);
  });
});

describe("creditsLabel", () => {
  it("shows what is left of a limit", () => {
    expect(creditsLabel({ limit: 10, limitRemaining: 4.9, usage: 5.1, isFreeTier: false })).toBe(
      "credits left: 4.90 of 10.00",
    );
  });
  it("shows usage when there is no limit", () => {
    expect(creditsLabel({ usage: 1.2, isFreeTier: true })).toBe("used 1.20, no limit (free tier)");
  });
  it("is empty without figures", () => {
    expect(creditsLabel(undefined)).toBeUndefined();
  });
});
