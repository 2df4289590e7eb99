import { describe, expect, it } from "vitest";
import { authUrl, isInvitation, safeNext, signInUrl } from "./redirect.ts";

describe("safeNext", () => {
  it("returns to a page of this site", () => {
    expect(safeNext("/tokens")).toBe("/tokens");
    expect(safeNext("/keys/abc?x=1")).toBe("/keys/abc?x=1");
  });
  it("never leaves the site", () => {
    for (const bad of ["//evil.example", "/\\evil.example", "https://evil.example", "javascript:alert(1)", "evil"]) {
      expect(safeNext(bad)).toBe("/");
    }
  });
  it("never loops back to the sign-in pages, and defaults home", () => {
    expect(safeNext("/signin")).toBe("/");
    expect(safeNext("/signup?next=/x")).toBe("/");
    expect(safeNext(null)).toBe("/");
    expect(safeNext("")).toBe("/");
  });
});

describe("signInUrl", () => {
  it("carries the page to come back to", () => {
    expect(signInUrl("/audit", "?page=2")).toBe("/signin?next=%2Faudit%3Fpage%3D2");
    expect(signInUrl("/")).toBe("/signin");
  });
});

describe("authUrl", () => {
  it("keeps the target between the sign-in and sign-up pages", () => {
    expect(authUrl("/signup", "/invite/abc123")).toBe("/signup?next=%2Finvite%2Fabc123");
    expect(authUrl("/signin", "/invite/abc123")).toBe("/signin?next=%2Finvite%2Fabc123");
  });
  it("drops targets that leave the site or go nowhere", () => {
    for (const bad of ["//evil.example", "https://evil.example", "/signin?next=/x", "", null, undefined]) {
      expect(authUrl("/signup", bad)).toBe("/signup");
    }
  });
});

describe("isInvitation", () => {
  it("recognises an invitation link, only on this site", () => {
    expect(isInvitation("/invite/abc123")).toBe(true);
    expect(isInvitation("/invite/")).toBe(false);
    expect(isInvitation("/teams")).toBe(false);
    expect(isInvitation("//evil.example/invite/abc")).toBe(false);
    expect(isInvitation(null)).toBe(false);
  });
});
