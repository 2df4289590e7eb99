import { describe, expect, it } from "vitest";
import { attemptsText, deliveryEvent, deliveryFacts, deliveryLine, waitText, webhookUrlProblem } from "./webhook.ts";

describe("deliveryLine", () => {
  it("says what was sent, whether it arrived, why and how many tries", () => {
    expect(deliveryLine({ event: "test", delivered: true, detail: "HTTP 200 from hooks.slack.com", attempts: 1 })).toBe(
      "Test message delivered: HTTP 200 from hooks.slack.com (1 attempt).",
    );
    expect(
      deliveryLine({ event: "expiring", delivered: false, detail: "HTTP 500 from 127.0.0.1. ", attempts: 3 }),
    ).toBe("Expiry reminder not delivered: HTTP 500 from 127.0.0.1 (3 attempts).");
    expect(deliveryLine({ event: "invalid", delivered: true, detail: "", attempts: 0 })).toBe(
      "Key found invalid delivered.",
    );
    expect(deliveryFacts({ event: "expired", delivered: false, detail: "no answer within 5 s", attempts: 4 })).toBe(
      "Key expired: no answer within 5 s (4 attempts)",
    );
  });
  it("names events the UI does not know yet in words", () => {
    expect(deliveryEvent("expired")).toBe("Key expired");
    expect(deliveryEvent("rotated")).toBe("Rotated");
    expect(deliveryEvent("")).toBe("Message");
    expect(attemptsText(2)).toBe("2 attempts");
  });
});

describe("waitText", () => {
  it("rounds up to a unit a person reads", () => {
    expect(waitText(1)).toBe("1 second");
    expect(waitText(0.2)).toBe("1 second");
    expect(waitText(45)).toBe("45 seconds");
    expect(waitText(120)).toBe("2 minutes");
    expect(waitText(3 * 3600)).toBe("3 hours");
  });
});

describe("webhookUrlProblem", () => {
  it("catches only what the browser can tell for sure", () => {
    expect(webhookUrlProblem("  ")).toMatch(/Enter the webhook's URL/);
    expect(webhookUrlProblem("hooks.slack.com/services/T0/B0/x")).toMatch(/not a URL/);
    expect(webhookUrlProblem("https://hooks.slack.com/services/T0 /B0")).toMatch(/space/);
    expect(webhookUrlProblem(" https://hooks.slack.com/services/T0/B0/x\n")).toBeUndefined();
    // The wallet refuses these with its own reasons.
    expect(webhookUrlProblem("ftp://x")).toBeUndefined();
    expect(webhookUrlProblem("http://169.254.169.254/latest")).toBeUndefined();
  });
});
