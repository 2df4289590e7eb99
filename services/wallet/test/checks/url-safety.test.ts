// SSRF: a custom base URL must not lead the wallet into its own network.
import { lookup } from "node:dns/promises";
import { hostname } from "node:os";
import { AppError } from "@cv-wallet/common/errors";
import { type CapturedLogs, captureLogs } from "@cv-wallet/common/testing/logs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createKeyChecker } from "../../src/checks/checker.ts";
import {
  assertSafeBaseUrl,
  checkBaseUrlForm,
  classifyAddress,
  type HostResolver,
  type ResolvedAddress,
} from "../../src/checks/url-safety.ts";
import { type FakeServer, send, startServer } from "./fake-provider.ts";

/** A resolver with fixed answers; unknown names do not resolve (no real DNS in these tests). */
function fakeDns(table: Record<string, string[] | (() => string[])>): HostResolver & { calls: string[] } {
  const calls: string[] = [];
  const resolve = async (name: string): Promise<ResolvedAddress[]> => {
    calls.push(name);
    const entry = table[name];
    const addresses = typeof entry === "function" ? entry() : entry;
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: "ENOTFOUND" });
    return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return Object.assign(resolve, { calls });
}

const PUBLIC_DNS = fakeDns({
  "api.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
  "internal.example.com": ["10.1.2.3"],
  "mixed.example.com": ["93.184.216.34", "10.0.0.5"],
  "ula.example.com": ["fd12:3456::1"],
  "mapped.example.com": ["::ffff:169.254.169.254"],
  "cgnat.example.com": ["100.64.0.7"],
  localhost: ["127.0.0.1", "::1"],
});

async function refusal(url: string, allowPrivate: boolean): Promise<AppError | undefined> {
  try {
    await assertSafeBaseUrl(url, { allowPrivate, resolve: PUBLIC_DNS });
    return undefined;
  } catch (error) {
    return error as AppError;
  }
}

describe("classifyAddress", () => {
  it.each([
    ["127.0.0.1", "private"],
    ["127.255.255.254", "private"],
    ["10.0.0.1", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "private"],
    ["::1", "private"],
    ["fd00::1", "private"],
    ["fc00::1", "private"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:7f00:1", "private"],
    ["64:ff9b::a00:1", "private"],
    ["169.254.169.254", "forbidden"],
    ["169.254.170.2", "forbidden"],
    ["100.100.100.200", "forbidden"],
    ["0.0.0.0", "forbidden"],
    ["::", "forbidden"],
    ["fe80::1", "forbidden"],
    ["fe80::1%eth0", "forbidden"],
    ["fd00:ec2::254", "forbidden"],
    ["::ffff:169.254.169.254", "forbidden"],
    ["224.0.0.1", "forbidden"],
    ["255.255.255.255", "forbidden"],
    ["not-an-ip", "forbidden"],
    ["8.8.8.8", "public"],
    ["172.32.0.1", "public"],
    ["100.128.0.1", "public"],
    ["2606:4700::1111", "public"],
    ["::ffff:8.8.8.8", "public"],
  ])("%s is %s", (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });
});

describe("assertSafeBaseUrl", () => {
  it.each([
    "https://127.0.0.1/v1",
    "https://10.0.0.1/v1",
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]/v1",
    "https://[::ffff:127.0.0.1]/v1",
    "https://[fd00::1]/v1",
    "https://[fe80::1]/v1",
    "https://100.64.0.1/v1",
    "https://0.0.0.0/v1",
    "https://2130706433/v1", // 127.0.0.1 as one number
    "https://0x7f.1/v1", // 127.0.0.1 in hex shorthand
    "https://localhost/v1",
    "https://models.localhost/v1",
    "https://metadata.google.internal/computeMetadata/v1",
    "https://internal.example.com/v1", // a name that resolves to a private address
    "https://mixed.example.com/v1", // one public and one private address
    "https://ula.example.com/v1",
    "https://mapped.example.com/v1",
    "https://cgnat.example.com/v1",
    "http://api.example.com/v1", // plain http
    "ftp://api.example.com/v1",
    "https://user:pass@api.example.com/v1",
    "https://api.example.com/v1?key=x",
    "https://nxdomain.example.com/v1",
    "not a url",
  ])("refuses %s", async (url) => {
    const error = await refusal(url, false);
    expect(error).toBeInstanceOf(AppError);
    expect(error!.code).toBe("invalid_argument");
    expect(error!.message).toMatch(/^base URL refused: /);
  });

  it("names the operator setting when it refuses a loopback or private address, http included", async () => {
    for (const url of ["http://localhost:1234/v1", "http://127.0.0.1:11434/v1", "https://192.168.1.5/v1"]) {
      expect((await refusal(url, false))?.message, url).toContain("WALLET_ALLOW_PRIVATE_BASE_URLS=true");
    }
    expect((await refusal("http://api.example.com/v1", false))?.message).not.toContain("WALLET_ALLOW");
  });

  it("checkBaseUrlForm judges the form only: no DNS, and a message without the 'refused' lead", () => {
    expect(() => checkBaseUrlForm("https://nxdomain.example.com/v1", { allowPrivate: false })).not.toThrow();
    expect(() => checkBaseUrlForm("http://localhost:1234/v1", { allowPrivate: true })).not.toThrow();
    for (const url of ["http://localhost:1234/v1", "https://user:pw@a.example/", "https://169.254.169.254/", "x"]) {
      let message = "";
      try {
        checkBaseUrlForm(url, { allowPrivate: false });
      } catch (error) {
        expect(error).toBeInstanceOf(AppError);
        message = (error as AppError).message;
      }
      expect(message, url).not.toBe("");
      expect(message, url).not.toMatch(/^base URL refused/);
    }
  });

  it("accepts an https URL whose host resolves only to public addresses", async () => {
    expect(await refusal("https://api.example.com/v1", false)).toBeUndefined();
    expect(await refusal("https://93.184.216.34/v1", false)).toBeUndefined();
  });

  it("with WALLET_ALLOW_PRIVATE_BASE_URLS: private networks (and http to them) allowed; metadata and public http never", async () => {
    for (const url of [
      "https://127.0.0.1/v1",
      "http://127.0.0.1:11434/v1",
      "http://10.0.0.1/v1",
      "https://[::1]/v1",
      "http://localhost:8000/v1",
      "http://internal.example.com/v1",
    ]) {
      expect(await refusal(url, true), url).toBeUndefined();
    }
    for (const url of [
      "https://169.254.169.254/latest",
      "https://metadata.google.internal/",
      "https://mapped.example.com/",
      "https://[fd00:ec2::254]/",
      "http://api.example.com/v1",
      "http://mixed.example.com/v1",
    ]) {
      expect((await refusal(url, true))?.code, url).toBe("invalid_argument");
    }
  });

  it("uses the system resolver by default: this machine's own host name resolves to a non-public address", async () => {
    const addresses = await lookup(hostname(), { all: true }).catch(() => []);
    const nonPublic = addresses.length > 0 && addresses.every((a) => classifyAddress(a.address) !== "public");
    if (!nonPublic) {
      console.warn(`skipped: ${hostname()} does not resolve to a private address here`);
      return;
    }
    await expect(assertSafeBaseUrl(`https://${hostname()}/v1`, { allowPrivate: false })).rejects.toMatchObject({
      code: "invalid_argument",
    });
  });
});

describe("custom base URLs in the key checker", () => {
  const KEY = "sk-custom-SSRFssrfSSRFssrf0123456789";
  let target: FakeServer;
  let logs: CapturedLogs;

  beforeEach(async () => {
    target = await startServer((_req, res) => send(res, { status: 200, body: { object: "list", data: [] } }));
    logs = captureLogs("wallet");
  });
  afterEach(async () => {
    expect(logs.text()).not.toContain(KEY);
    await target.close();
  });

  const checker = (allowPrivateBaseUrls: boolean, resolve?: HostResolver) =>
    createKeyChecker({ baseUrlOverrides: {}, allowPrivateBaseUrls, timeoutMs: 500, logger: logs.logger, resolve });

  it("refuses loopback, private, metadata and http URLs: unverified, and nothing is sent", async () => {
    const port = target.port;
    const urls = [
      `http://127.0.0.1:${port}/v1`,
      `https://127.0.0.1:${port}/v1`,
      `https://localhost:${port}/v1`,
      `https://[::1]:${port}/v1`,
      `https://10.0.0.1:${port}/v1`,
      `https://169.254.169.254/v1`,
      `https://${hostname()}:${port}/v1`,
    ];
    for (const url of urls) {
      const result = await checker(false).check("custom", KEY, url);
      expect(result.status, url).toBe("unverified");
      expect(result.detail, url).toMatch(/^base URL refused: /);
    }
    expect(target.requests).toHaveLength(0);
  });

  it("allows the loopback server when private base URLs are allowed", async () => {
    const result = await checker(true).check("custom", KEY, `http://127.0.0.1:${target.port}/v1`);
    expect(result.status).toBe("valid");
    expect(target.requests[0]!.url).toBe("/v1/models");
  });

  it("re-checks the address when it connects: a name that turns private after the save-time check is refused", async () => {
    let answers = 0;
    // DNS rebinding: public when the URL is saved, loopback when the check runs.
    const rebinding = fakeDns({ "rebind.example.com": () => (answers++ === 0 ? ["93.184.216.34"] : ["127.0.0.1"]) });
    const url = `https://rebind.example.com:${target.port}/v1`;
    await expect(assertSafeBaseUrl(url, { allowPrivate: false, resolve: rebinding })).resolves.toBeUndefined();
    const result = await checker(false, rebinding).check("custom", KEY, url);
    expect(result).toMatchObject({ status: "unverified", detail: expect.stringMatching(/loopback or private/) });
    expect(target.requests).toHaveLength(0);
  });

  it("connects to exactly the address it checked (one lookup), sending the URL's host name", async () => {
    const dns = fakeDns({ "models.internal.test": ["127.0.0.1"] });
    const result = await checker(true, dns).check("custom", KEY, `http://models.internal.test:${target.port}/v1`);
    expect(result.status).toBe("valid");
    expect(dns.calls).toEqual(["models.internal.test"]);
    expect(target.requests[0]!.headers.host).toBe(`models.internal.test:${target.port}`);
  });

  it("a custom host that does not resolve, or a DNS outage, is unreachable; a refused address is unverified", async () => {
    const nx = await checker(false, fakeDns({})).check("custom", KEY, "https://nowhere.example.com/v1");
    expect(nx).toMatchObject({ status: "unreachable", detail: "base URL refused: its host name does not resolve" });
    const refused = await checker(false, fakeDns({})).check("custom", KEY, "https://10.0.0.8/v1");
    expect(refused.status).toBe("unverified");
    const flaky: HostResolver = async () => {
      throw Object.assign(new Error("queryA ETIMEOUT"), { code: "EAI_AGAIN" });
    };
    const down = await checker(false, flaky).check("custom", KEY, "https://api.example.com/v1");
    expect(down.status).toBe("unreachable");
  });
});
