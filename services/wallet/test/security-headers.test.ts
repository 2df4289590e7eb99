// The exact security headers of each kind of response (REST, Connect, UI paths, with and
// without HTTPS), pinned so moving them onto helmet (or a helmet upgrade) changes nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cookieValue } from "../src/edge/http/call.ts";
import { rest, type Stack, startStack } from "./stack.ts";

const SECURITY = [
  "x-content-type-options",
  "x-frame-options",
  "referrer-policy",
  "cross-origin-opener-policy",
  "cross-origin-resource-policy",
  "permissions-policy",
  "strict-transport-security",
  "content-security-policy",
  "cache-control",
  // helmet defaults that stay off, and Express's banner.
  "origin-agent-cluster",
  "x-xss-protection",
  "x-dns-prefetch-control",
  "x-download-options",
  "x-permitted-cross-domain-policies",
  "cross-origin-embedder-policy",
  "x-powered-by",
];
const API_CSP = "default-src 'none'; frame-ancestors 'none'";
const UI_CSP =
  "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";
const COMMON = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "permissions-policy": "camera=(), microphone=(), geolocation=()",
};

const picked = (headers: Headers) =>
  Object.fromEntries(SECURITY.filter((h) => headers.has(h)).map((h) => [h, headers.get(h)]));

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe("security headers", () => {
  it("are exactly these on REST, Connect and UI paths over plain HTTP", async () => {
    const api = await rest(stack.url, "GET", "/api/keys");
    expect(picked(api.headers)).toEqual({ ...COMMON, "content-security-policy": API_CSP, "cache-control": "no-store" });
    const connect = await fetch(`${stack.url}/cvwallet.wallet.v1.WalletService/ListKeys`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(picked(connect.headers)).toEqual({
      ...COMMON,
      "content-security-policy": API_CSP,
      "cache-control": "no-store",
    });
    const ui = await fetch(`${stack.url}/some/page`);
    expect(picked(ui.headers)).toEqual({ ...COMMON, "content-security-policy": UI_CSP });
  });

  it("add HSTS when the public URL is https", async () => {
    const w = await stack.startAnotherWallet({ publicUrl: "https://wallet.example.com" });
    const api = await rest(w.url, "GET", "/api/keys");
    expect(picked(api.headers)).toEqual({
      ...COMMON,
      "strict-transport-security": "max-age=31536000; includeSubDomains",
      "content-security-policy": API_CSP,
      "cache-control": "no-store",
    });
    const connect = await fetch(`${w.url}/cvwallet.wallet.v1.WalletService/ListKeys`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(connect.headers.get("strict-transport-security")).toBe("max-age=31536000; includeSubDomains");
  });
});

describe("the session cookie is read with the cookie library", () => {
  it("finds it among others, first one wins, absent or empty is no session", () => {
    expect(cookieValue("a=1; cvw_session=abc_-9; b=2", "cvw_session")).toBe("abc_-9");
    expect(cookieValue("cvw_session=first; cvw_session=second", "cvw_session")).toBe("first");
    expect(cookieValue("cvw_session=", "cvw_session")).toBeUndefined();
    expect(cookieValue("other=1", "cvw_session")).toBeUndefined();
    expect(cookieValue(undefined, "cvw_session")).toBeUndefined();
    expect(cookieValue("garbage;;;=;", "cvw_session")).toBeUndefined();
  });
});
