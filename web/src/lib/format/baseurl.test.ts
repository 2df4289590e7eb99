import { describe, expect, it } from "vitest";
import { needsPrivateSetting, shortBaseUrl } from "./baseurl.ts";

describe("needsPrivateSetting", () => {
  it("spots local and private endpoints (Ollama, LM Studio, the office network)", () => {
    for (const url of [
      "http://localhost:1234/v1",
      "https://localhost:11434/v1",
      "http://llm.example.com/v1",
      "https://127.0.0.1/v1",
      "https://10.1.2.3/v1",
      "https://172.20.0.5/v1",
      "https://192.168.1.10/v1",
      "https://[::1]:8000/v1",
    ]) {
      expect(needsPrivateSetting(url), url).toBe(true);
    }
    for (const url of ["https://llm.example.com/v1", "https://172.32.0.1/v1", "not a url", ""]) {
      expect(needsPrivateSetting(url), url).toBe(false);
    }
  });
});

describe("shortBaseUrl", () => {
  it("keeps what tells two endpoints apart", () => {
    expect(shortBaseUrl("https://llm.example.com/v1/")).toBe("llm.example.com/v1");
    expect(shortBaseUrl("http://10.0.0.2:8000/v1")).toBe("http://10.0.0.2:8000/v1");
    expect(shortBaseUrl("junk")).toBe("junk");
  });
});
