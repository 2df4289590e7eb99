import { describe, expect, it } from "vitest";
import { MASK, maskedKey, maskSecret } from "./mask.ts";

describe("maskedKey", () => {
  it("shows four dots and the last four characters", () => {
    expect(maskedKey("Ab3d")).toBe("••••Ab3d");
  });
  it("never shows more than four characters even when given more", () => {
    expect(maskedKey("sk-proj-1234")).toBe("••••1234");
  });
  it("prefers the wallet's own masked form", () => {
    expect(maskedKey("Ab3d", "••••Ab3d")).toBe("••••Ab3d");
  });
});

describe("maskSecret", () => {
  it("keeps only the last four characters of a secret", () => {
    const masked = maskSecret("sk-ant-api03-verysecretvalue-wxyz");
    expect(masked).toBe(`${MASK}wxyz`);
    expect(masked).not.toContain("secret");
  });
  it("hides very short secrets entirely", () => {
    expect(maskSecret("abc")).toBe(MASK);
  });
});
