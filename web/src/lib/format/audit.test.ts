import { describe, expect, it } from "vitest";
import { actionLabel, actionOptions, dayRange, eventLabel, inRange, toCsv } from "./audit.ts";

describe("actionLabel", () => {
  it("labels known actions for people and words unknown ones", () => {
    expect(actionLabel("key.revealed")).toBe("Key revealed");
    expect(actionLabel("key.retrieved")).toBe("Key fetched by a tool");
    expect(actionLabel("team.member_added")).toBe("Team member added");
    expect(actionLabel("webhook.updated")).toBe("Webhook changed");
    expect(actionLabel("webhook.sent")).toBe("Reminder sent");
    expect(actionLabel("webhook.failed")).toBe("Reminder failed");
  });
});

describe("eventLabel", () => {
  it("does not call a webhook test a reminder", () => {
    expect(eventLabel("webhook.sent", { event: "expiring", host: "hooks.slack.com" })).toBe("Reminder sent");
    expect(eventLabel("webhook.sent", { event: "test" })).toBe("Webhook test sent");
    expect(eventLabel("webhook.failed", { event: "test" })).toBe("Webhook test failed");
    expect(eventLabel("webhook.failed", { event: "invalid" })).toBe("Reminder failed");
    expect(eventLabel("key.created", { event: "test" })).toBe("Key added");
    expect(eventLabel("key.created")).toBe("Key added");
  });
});

describe("actionOptions", () => {
  it("lists every known action plus those seen, once each, by label", () => {
    const o = actionOptions(["key.viewed", "team.joined", "key.viewed", ""]);
    const values = o.map((x) => x.value);
    expect(values).toContain("keys.listed");
    for (const a of ["webhook.updated", "webhook.sent", "webhook.failed"]) expect(values).toContain(a);
    expect(values).toContain("team.joined");
    expect(values.filter((v) => v === "key.viewed")).toHaveLength(1);
    expect(values).not.toContain("");
    expect(o.map((x) => x.label)).toEqual([...o.map((x) => x.label)].sort((a, b) => a.localeCompare(b)));
  });
});

describe("dayRange", () => {
  it("covers whole UTC days, either end open", () => {
    const r = dayRange("2026-11-01", "2026-11-30");
    expect(inRange(Date.parse("2026-11-01T00:00:00Z"), r)).toBe(true);
    expect(inRange(Date.parse("2026-11-30T23:59:59Z"), r)).toBe(true);
    expect(inRange(Date.parse("2026-12-01T00:00:00Z"), r)).toBe(false);
    expect(inRange(Date.parse("2026-10-31T23:59:59Z"), r)).toBe(false);
    expect(dayRange("", "")).toEqual({ start: undefined, end: undefined });
    expect(inRange(0, dayRange("", "nonsense"))).toBe(true);
  });
});

describe("toCsv", () => {
  it("quotes commas, quotes and line breaks (RFC 4180, CRLF)", () => {
    const csv = toCsv(
      [
        { a: "plain", b: 'say "hi"' },
        { a: "x,y", b: "line\nbreak" },
      ],
      ["a", "b"],
    );
    expect(csv).toBe('a,b\r\nplain,"say ""hi"""\r\n"x,y","line\nbreak"\r\n');
  });
  it("defuses cells a spreadsheet would run as formulas", () => {
    expect(toCsv([{ a: "=HYPERLINK(1)" }, { a: "+1" }, { a: "-2" }, { a: "@x" }, { a: "a=b" }], ["a"])).toBe(
      "a\r\n'=HYPERLINK(1)\r\n'+1\r\n'-2\r\n'@x\r\na=b\r\n",
    );
    expect(toCsv([{ a: '=1,"2"' }], ["a"])).toBe(`a\r\n"'=1,""2"""\r\n`);
  });
  it("writes empty cells for missing values", () => {
    expect(toCsv([{ a: undefined, b: 0 }], ["a", "b"])).toBe("a,b\r\n,0\r\n");
  });
});
