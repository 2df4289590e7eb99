import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, env, loadConfig, parseDuration } from "../src/config.ts";

const schema = z.object({
  ADDR: env.address("127.0.0.1:8080"),
  SECURE: env.boolean(false),
  LIMIT: env.integer(10, 1, 100),
  INTERVAL: env.duration("24h"),
});

describe("config", () => {
  it("applies defaults", () => {
    expect(loadConfig(schema, {})).toEqual({ ADDR: "127.0.0.1:8080", SECURE: false, LIMIT: 10, INTERVAL: 86_400_000 });
  });

  it("names every bad variable without echoing its value", () => {
    const error = (() => {
      try {
        loadConfig(schema, { ADDR: "nope", LIMIT: "1000", SECURE: "maybe", INTERVAL: "soon-secret" });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variables.sort()).toEqual(["ADDR", "INTERVAL", "LIMIT", "SECURE"]);
    expect((error as Error).message).not.toContain("soon-secret");
  });

  it("parses durations", () => {
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("1.5h")).toBe(5_400_000);
    expect(parseDuration("7d")).toBe(604_800_000);
    expect(parseDuration("7 weeks")).toBeUndefined();
  });
});
