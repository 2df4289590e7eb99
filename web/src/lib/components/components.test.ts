// Component tests: each component rendered to HTML (svelte/server) and read as a person or a
// screen reader would: text, labels, and the attributes that carry meaning.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { KeyValidationSchema, ProviderCreditsSchema } from "@cv-wallet/proto/wallet/v1";
import { render } from "svelte/server";
import { describe, expect, it } from "vitest";
import ExpiryStatus from "./ExpiryStatus.svelte";
import ProviderMark from "./ProviderMark.svelte";
import StatusBadge from "./StatusBadge.svelte";
import UsageChart from "./UsageChart.svelte";

const text = (html: string) =>
  html
    .replace(/<!--[^>]*-->/g, "")
    .replace(/<[^>]+>/g, " ")
    .replace(/\s+/g, " ")
    .trim();

describe("StatusBadge", () => {
  const now = new Date("2026-11-26T12:00:00Z");

  it("shows the status and when it was checked", () => {
    const validation = create(KeyValidationSchema, {
      status: "valid",
      checkedAt: timestampFromDate(new Date("2026-11-26T09:00:00Z")),
    });
    const { body } = render(StatusBadge, { props: { validation, now } });
    expect(text(body)).toBe("valid checked 3 h ago");
    expect(body).toMatch(/class="badge good[ "]/);
  });

  it("shows OpenRouter's credits left", () => {
    const validation = create(KeyValidationSchema, {
      status: "valid",
      checkedAt: timestampFromDate(now),
      credits: create(ProviderCreditsSchema, { limit: 10, limitRemaining: 4.9, usage: 5.1 }),
    });
    expect(text(render(StatusBadge, { props: { validation, now } }).body)).toContain("credits left: 4.90 of 10.00");
  });

  it("has one wording for a key never checked", () => {
    expect(text(render(StatusBadge, { props: { validation: undefined, now } }).body)).toBe("not checked yet");
    const server = create(KeyValidationSchema, { status: "unverified", detail: "not checked yet" });
    expect(text(render(StatusBadge, { props: { validation: server, now } }).body)).toBe("not checked yet");
  });

  it("says how long a rate-limited check must wait", () => {
    const validation = create(KeyValidationSchema, { status: "rate_limited", retryAfterSeconds: 30 });
    expect(text(render(StatusBadge, { props: { validation, now } }).body)).toBe("rate limited retry in 30 s");
  });
});

describe("ExpiryStatus", () => {
  it("highlights a key expiring within 14 days", () => {
    const { body } = render(ExpiryStatus, { props: { expiresInDays: 5 } });
    expect(text(body)).toBe("expires in 5 days");
    expect(body).toContain("badge warn");
  });
  it("highlights an expired key", () => {
    const { body } = render(ExpiryStatus, { props: { expiresInDays: -2 } });
    expect(text(body)).toBe("expired");
    expect(body).toContain("badge bad");
  });
  it("stays quiet for a distant or missing expiry", () => {
    expect(render(ExpiryStatus, { props: { expiresInDays: 90 } }).body).not.toContain("badge");
    expect(text(render(ExpiryStatus, { props: { expiresInDays: undefined } }).body)).toBe("no expiry");
  });
});

describe("UsageChart", () => {
  const cli = "a".repeat(24);
  const ci = "b".repeat(24);
  const days = Array.from({ length: 30 }, (_, i) => ({
    date: `2026-11-${String(i + 1).padStart(2, "0")}`,
    retrievals: i === 29 ? 3 : i === 10 ? 1 : 0,
    reveals: i === 29 ? 2 : 0,
    tokens:
      i === 29
        ? [
            { tokenId: cli, tokenName: "cv-git", retrievals: 2 },
            { tokenId: ci, tokenName: "ci", retrievals: 1 },
          ]
        : i === 10
          ? [{ tokenId: cli, tokenName: "cv-git", retrievals: 1 }]
          : [],
  }));

  it("stacks each day's retrievals by token and names the chart for screen readers", () => {
    const { body } = render(UsageChart, { props: { days } });
    // Day 11: one segment; day 30: two (cv-git and ci).
    expect(body.match(/<rect /g)).toHaveLength(3);
    expect(body).toContain('role="img"');
    expect(body).toContain("4 retrievals in the last 30 days, most on 2026-11-30 (3). By token: cv-git 3, ci 1.");
  });

  it("counts reveals apart from retrievals, and has the numbers as a table too", () => {
    const { body } = render(UsageChart, { props: { days } });
    expect(text(body)).toContain("2 reveals by you in this period (not counted as usage).");
    expect(body).toContain("<table");
    expect(text(body)).toContain("2026-11-30 3 cv-git 2, ci 1 2");
  });

  it("says so when there was no use", () => {
    const quiet = days.map((d) => ({ ...d, retrievals: 0, reveals: 0, tokens: [] }));
    const t = text(render(UsageChart, { props: { days: quiet } }).body);
    expect(t).toContain("No retrievals in the last 30 days.");
    expect(t).toContain("No reveals in this period.");
  });
});

describe("ProviderMark", () => {
  it("is decorative", () => {
    const { body } = render(ProviderMark, { props: { id: "anthropic" } });
    expect(body).toContain('aria-hidden="true"');
  });
});
