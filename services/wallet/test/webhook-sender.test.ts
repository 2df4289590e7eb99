// The webhook sender against loopback servers: what it posts, where it connects (the checked
// addresses only), what it retries and what not, redirects not followed, timeouts, and what it
// says (host and status, never the path) in results and logs.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { captureLogs } from "@cv-wallet/common/testing/logs";
import { afterEach, describe, expect, it } from "vitest";
import type { ResolvedAddress } from "../src/checks/url-safety.ts";
import { createWebhookSender } from "../src/clients/webhook.ts";

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: Handler) {
  const hits: { path: string; body: string; contentType: string; agent: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString();
    });
    req.on("end", () => {
      hits.push({
        path: req.url ?? "",
        body,
        contentType: String(req.headers["content-type"]),
        agent: String(req.headers["user-agent"]),
      });
      handler(req, res, body);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { hits, port: (server.address() as AddressInfo).port };
}

/** A resolver that answers every name with these addresses (DNS is not the test's subject). */
const resolveTo =
  (...addresses: string[]) =>
  async (): Promise<ResolvedAddress[]> =>
    addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));

function sender(over: Partial<Parameters<typeof createWebhookSender>[0]> = {}) {
  const logs = captureLogs("wallet");
  const s = createWebhookSender({
    allowPrivate: true,
    retryDelaysMs: [10, 20, 30],
    logger: logs.logger,
    resolve: resolveTo("127.0.0.1"),
    ...over,
  });
  return { s, logs };
}

const SECRET = "T0/B0/sEcReTpAtH1234";

describe("webhook sender", () => {
  it("POSTs {text} as JSON to the checked address and reports host and status only", async () => {
    const hook = await serve((_q, res) => res.writeHead(200).end("ok"));
    const { s, logs } = sender();
    const result = await s.deliver(`http://hooks.test:${hook.port}/services/${SECRET}`, { text: "hello" });
    expect(result).toEqual({ delivered: true, detail: "HTTP 200 from hooks.test", attempts: 1, retryable: false });
    expect(hook.hits).toEqual([
      {
        path: `/services/${SECRET}`,
        body: '{"text":"hello"}',
        contentType: "application/json; charset=utf-8",
        agent: "cv-wallet-webhook/1",
      },
    ]);
    expect(logs.text()).toMatch(/webhook delivery/);
    expect(logs.text()).not.toContain("sEcReTpAtH");
  });

  it("retries 5xx and 429 with back-off, up to its attempts, and stops at the first success", async () => {
    let left = 2;
    const hook = await serve((_q, res) => {
      if (left-- > 0) res.writeHead(left === 1 ? 503 : 429, { "retry-after": "0" }).end();
      else res.writeHead(204).end();
    });
    const { s } = sender();
    const result = await s.deliver(`http://hooks.test:${hook.port}/${SECRET}`, { text: "x" });
    expect(result).toMatchObject({ delivered: true, attempts: 3 });
    expect(hook.hits).toHaveLength(3);

    const down = await serve((_q, res) => res.writeHead(500).end());
    const failed = await s.deliver(`http://hooks.test:${down.port}/${SECRET}`, { text: "x" });
    expect(failed).toEqual({ delivered: false, detail: "HTTP 500 from hooks.test", attempts: 4, retryable: true });
    const once = await s.deliver(`http://hooks.test:${down.port}/${SECRET}`, { text: "x" }, { attempts: 1 });
    expect(once.attempts).toBe(1);
  });

  it("does not retry an answer that will not change (4xx) and never follows a redirect", async () => {
    const elsewhere = await serve((_q, res) => res.writeHead(200).end());
    const gone = await serve((_q, res) => res.writeHead(404).end("no_service"));
    const moved = await serve((_q, res) =>
      res.writeHead(302, { location: `http://127.0.0.1:${elsewhere.port}/steal` }).end(),
    );
    const { s } = sender();
    expect(await s.deliver(`http://hooks.test:${gone.port}/${SECRET}`, { text: "x" })).toEqual({
      delivered: false,
      detail: "HTTP 404 from hooks.test",
      attempts: 1,
      retryable: false,
    });
    expect(await s.deliver(`http://hooks.test:${moved.port}/${SECRET}`, { text: "x" })).toEqual({
      delivered: false,
      detail: "HTTP 302 from hooks.test: redirected; not followed",
      attempts: 1,
      retryable: false,
    });
    expect(elsewhere.hits).toHaveLength(0);
  });

  it("connects only to addresses that pass the rules, on every attempt (no rebinding)", async () => {
    const hook = await serve((_q, res) => res.writeHead(200).end());
    const metadata = sender({ resolve: resolveTo("169.254.169.254") }).s;
    const refused = await metadata.deliver(`http://hooks.test:${hook.port}/${SECRET}`, { text: "x" });
    expect(refused).toEqual({
      delivered: false,
      detail: "webhook URL refused: it points at a link-local, metadata or reserved address",
      attempts: 1,
      retryable: false,
    });
    // One public and one private answer: refused as a whole when private ones are not allowed.
    const mixed = sender({ allowPrivate: false, resolve: resolveTo("93.184.215.14", "10.0.0.7") }).s;
    const r = await mixed.deliver("https://hooks.test/x", { text: "x" });
    expect(r.delivered).toBe(false);
    expect(r.detail).toMatch(/WALLET_ALLOW_PRIVATE_BASE_URLS=true/);
    expect(hook.hits).toHaveLength(0);
  });

  it("says what went wrong on the network, retrying what may pass (not a name that does not exist)", async () => {
    const { s } = sender({ timeoutMs: 150, retryDelaysMs: [5] });
    const hang = await serve(() => {
      // Never answers.
    });
    expect(await s.deliver(`http://hooks.test:${hang.port}/${SECRET}`, { text: "x" })).toEqual({
      delivered: false,
      detail: "no answer from hooks.test within 150 ms",
      attempts: 2,
      retryable: true,
    });
    const closed = await serve(() => {});
    const port = closed.port;
    await new Promise((r) => servers.pop()!.close(r));
    expect(await s.deliver(`http://hooks.test:${port}/${SECRET}`, { text: "x" })).toEqual({
      delivered: false,
      detail: "connection refused by hooks.test",
      attempts: 2,
      retryable: true,
    });
    const nowhere = sender({
      retryDelaysMs: [5],
      resolve: async () => {
        throw Object.assign(new Error("getaddrinfo ENOTFOUND"), { code: "ENOTFOUND" });
      },
    }).s;
    expect(await nowhere.deliver(`https://nope.invalid/${SECRET}`, { text: "x" })).toEqual({
      delivered: false,
      detail: "host not found: nope.invalid",
      attempts: 1,
      retryable: false,
    });
    // A resolver that never answers counts against the same timeout.
    const stuck = sender({ timeoutMs: 100, retryDelaysMs: [], resolve: () => new Promise(() => {}) }).s;
    expect(await stuck.deliver(`https://hooks.test/${SECRET}`, { text: "x" })).toEqual({
      delivered: false,
      detail: "no answer from hooks.test within 100 ms",
      attempts: 1,
      retryable: true,
    });
  });

  it("judges a URL's form before it is saved: query strings allowed, fragments and credentials not", () => {
    const strict = sender({ allowPrivate: false }).s;
    expect(() => strict.checkUrl("https://chat.example.com/v1/spaces/a/messages?key=k&token=t")).not.toThrow();
    expect(() => strict.checkUrl("https://hooks.example.com/x#y")).toThrow(/fragment/);
    expect(() => strict.checkUrl("https://u:p@hooks.example.com/x")).toThrow(/user name or password/);
    expect(() => strict.checkUrl("http://127.0.0.1:9/x")).toThrow(/WALLET_ALLOW_PRIVATE_BASE_URLS/);
    expect(() => strict.checkUrl("https://169.254.169.254/x")).toThrow(/link-local/);
  });
});
