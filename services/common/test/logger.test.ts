import { describe, expect, it } from "vitest";
import { captureLogs } from "../src/testing/logs.ts";

describe("logger", () => {
  it("redacts secret-bearing fields at the top level and nested", () => {
    const logs = captureLogs();
    logs.logger.info(
      {
        apiKey: "sk-live-top",
        req: { headers: { authorization: "Bearer cvw_nested" }, password: "hunter2" },
        user: { token: "t0ken", email: "a@example.com" },
      },
      "request",
    );
    const text = logs.text();
    for (const secret of ["sk-live-top", "cvw_nested", "hunter2", "t0ken"]) expect(text).not.toContain(secret);
    expect(text).toContain("a@example.com");
    expect(logs.entries()[0]).toMatchObject({ service: "test", level: "info", apiKey: "[redacted]" });
  });
});
