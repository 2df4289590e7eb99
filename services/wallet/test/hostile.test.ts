// Hostile input and a cross-user matrix, against the real stack. A fixed, seeded corpus of a few
// thousand malformed requests (bad JSON, bad encodings, huge headers, bad content types, path
// traversal, wrong methods, bad ids, malformed protobuf) goes to every REST route and every
// Connect method, with and without credentials: no answer may be a 5xx, no body a stack trace,
// no log line above info. Then user A's session and token go against every one of user B's
// records: nothing of B's may come back or change.
import http from "node:http";
import net from "node:net";
import { WalletService } from "@cv-wallet/proto/wallet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTES } from "../src/edge/rest/rest.ts";
import {
  type Account,
  connectClient,
  createKey,
  createToken,
  expectNoSecretsInLogs,
  rest,
  type Stack,
  signUp,
  startStack,
} from "./stack.ts";

let stack: Stack;
let base: string;
let url: URL;
let a: Account;
let b: Account;
// The hostile corpus runs as its own user: it signs out and ends sessions along the way.
let h: Account;
let hToken: string;
let aToken: string;
let bToken: string;
let bKey: { id: string; key: string };
let bTokenId: string;
let aKey: { id: string };

beforeAll(async () => {
  stack = await startStack({ logLevel: "debug" });
  base = stack.url;
  url = new URL(base);
  a = await signUp(base);
  b = await signUp(base);
  h = await signUp(base);
  hToken = (await createToken(base, h)).secret;
  await createKey(base, { token: hToken });
  aToken = (await createToken(base, a)).secret;
  const bt = await createToken(base, b);
  bToken = bt.secret;
  bTokenId = bt.id;
  aKey = await createKey(base, { token: aToken });
  bKey = await createKey(base, { token: bToken });
});
afterAll(async () => {
  agent.destroy();
  if (stack) expectNoSecretsInLogs(stack);
  await stack?.stop();
});

/** A tiny seeded generator: the corpus is the same on every run. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Raw {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer | undefined;
}
interface Answer {
  status: number;
  body: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function send(r: Raw): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: url.hostname, port: url.port, method: r.method, path: r.path, headers: r.headers, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", () => resolve({ status: -1, body: "" }));
      },
    );
    // A reset is recorded (status -1) and judged by the caller, never thrown.
    req.on("error", () => resolve({ status: -1, body: "" }));
    if (r.body) req.write(r.body);
    req.end();
  });
}

async function runAll(requests: Raw[], concurrency = 16): Promise<{ req: Raw; res: Answer }[]> {
  const out: { req: Raw; res: Answer }[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests.length) {
        const req = requests[next++]!;
        // Node's client refuses a raw space in a path; the server would see %20 anyway.
        req.path = req.path.replaceAll(" ", "%20");
        out.push({ req, res: await send(req) });
      }
    }),
  );
  return out;
}

const BAD_IDS = [
  "%ff%fe",
  "%ff",
  "%c0%af",
  "..%2f..%2fetc%2fpasswd",
  "..%252f..",
  "%00",
  "x".repeat(300),
  "0",
  "ZZZZZZZZZZZZZZZZZZZZZZZZ",
  "000000000000000000000000",
  "%F0%9F%92%A9",
  "';DROP TABLE users;--",
  "{{7*7}}",
  "%",
  "%zz",
];
const BAD_BODIES: (string | Buffer)[] = [
  "{",
  "[]",
  "null",
  '"a string"',
  "123",
  '{"email": 5, "password": []}',
  '{"name": {"$gt": ""}}',
  '{"__proto__": {"admin": true}}',
  '{"constructor": {"prototype": {"x": 1}}}',
  `{"a": ${"[".repeat(2000)}${"]".repeat(2000)}}`,
  '{"scopes": ["*"], "providers": ["../../x"]}',
  '{"expiresInDays": -1, "key": ""}',
  '{"expiresAt": "not a date"}',
  '{"pageSize": 1e309}',
  Buffer.from([0xff, 0xfe, 0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]),
  Buffer.from([0x7b, 0x22, 0x6b, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]),
  "",
];
const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-16",
  "application/json; charset=latin1",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/proto",
  "application/xml",
  "",
];
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"];

function credentials(which: number): Record<string, string> {
  switch (which % 6) {
    case 0:
      return {};
    case 1:
      return { authorization: `Bearer ${hToken}` };
    case 2:
      return { cookie: h.cookie, origin: base };
    case 3:
      return { authorization: "Bearer cvw_notarealtokenatallnotarealtoken00" };
    case 4:
      return { authorization: "Basic YTpi" };
    default:
      return { cookie: "cvw_session=%ff%fe; other=\u00ff", origin: "null" };
  }
}

function restCorpus(): Raw[] {
  const rnd = prng(13);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const out: Raw[] = [];
  for (const route of ROUTES) {
    for (let i = 0; i < 110; i++) {
      const id = pick(BAD_IDS);
      let path = route.path.replace(":id", id).replace(":provider", pick(["openai", "nope", id]));
      if (i % 7 === 0)
        path += `?${pick(["page_size=-1", "days=%ff", "page_token=%00", "a[b]=1&a[c]=2", "expiring_within_days=1e9", "needs_attention=maybe", "provider=openai&provider=groq"])}`;
      const method = i % 3 === 0 ? pick(METHODS) : route.method.toUpperCase();
      const headers: Record<string, string> = { ...credentials(i) };
      let body: Buffer | undefined;
      if (method !== "GET" && method !== "HEAD" && i % 4 !== 3) {
        const b = pick(BAD_BODIES);
        body = Buffer.isBuffer(b) ? b : Buffer.from(b);
        const type = pick(CONTENT_TYPES);
        if (type) headers["content-type"] = type;
        if (i % 11 === 0) headers["content-encoding"] = pick(["gzip", "br", "deflate", "identity, gzip", "bogus"]);
        headers["content-length"] = String(body.length);
      }
      if (i % 23 === 0) headers["x-huge"] = "h".repeat(20_000);
      if (i % 29 === 0) headers.accept = "application/xml";
      out.push({ method, path, headers, body });
    }
  }
  // Paths no route has: traversal, encodings, odd prefixes.
  for (const p of [
    "/api/%ff%fe",
    "/api/keys/%ff%fe/reveal",
    "/api/../../etc/passwd",
    "/api/keys/..%2f..%2f",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/api//keys",
    "/api/keys/provider/%ff",
    "/cvwallet.wallet.v1.WalletService/%ff%fe",
    "/cvwallet.wallet.v1.WalletService/",
    "/metrics/%ff",
    "/%ff%fe",
  ]) {
    for (const method of METHODS) out.push({ method, path: p, headers: credentials(out.length) });
  }
  return out;
}

function connectCorpus(): Raw[] {
  const rnd = prng(14);
  const out: Raw[] = [];
  const junk = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
  for (const method of WalletService.methods) {
    const path = `/cvwallet.wallet.v1.WalletService/${method.name}`;
    for (let i = 0; i < 40; i++) {
      const headers: Record<string, string> = { ...credentials(i) };
      let body: Buffer;
      switch (i % 8) {
        case 0: // malformed protobuf: a field header announcing more bytes than follow
          headers["content-type"] = "application/proto";
          body = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]);
          break;
        case 1:
          headers["content-type"] = "application/proto";
          body = junk(1 + Math.floor(rnd() * 64));
          break;
        case 2:
          headers["content-type"] = "application/json";
          body = Buffer.from(String(BAD_BODIES[i % BAD_BODIES.length]));
          break;
        case 3:
          headers["content-type"] = "application/grpc-web+proto";
          body = junk(12);
          break;
        case 4:
          headers["content-type"] = "application/connect+proto";
          body = Buffer.concat([Buffer.from([0, 0xff, 0xff, 0xff, 0xff]), junk(8)]);
          break;
        case 5:
          headers["content-type"] = "application/json";
          headers["connect-protocol-version"] = "2";
          body = Buffer.from("{}");
          break;
        case 6:
          headers["content-type"] = "application/proto";
          headers["content-encoding"] = "gzip";
          body = junk(20);
          break;
        default:
          headers["content-type"] = "text/html";
          body = Buffer.from("<x>");
      }
      headers["content-length"] = String(body.length);
      out.push({ method: i % 10 === 9 ? "GET" : "POST", path, headers, body });
    }
  }
  return out;
}

describe("hostile input", () => {
  it("a few thousand malformed requests over every route and method: no 5xx, no stack, nothing logged above info", async () => {
    const logsBefore = stack.logs().length;
    const corpus = [...restCorpus(), ...connectCorpus()];
    expect(corpus.length).toBeGreaterThan(2500);
    const results = await runAll(corpus);
    const serverErrors = results.filter((r) => r.res.status >= 500 || r.res.status === -1);
    expect(
      serverErrors.slice(0, 5).map((r) => `${r.req.method} ${r.req.path.slice(0, 80)} → ${r.res.status}`),
      `${serverErrors.length} of ${results.length}`,
    ).toEqual([]);
    const stacks = results.filter((r) => /\n\s+at |Error: .*\n|node:internal|\.ts:\d+/.test(r.res.body));
    expect(stacks.map((r) => r.req.path)).toEqual([]);
    // Bad input is the client's problem: the service logs it at debug at most, never as an error.
    const logged = stack
      .logs()
      .slice(logsBefore)
      .split("\n")
      .filter((line) => /"level":(40|50|60)/.test(line));
    expect(logged.slice(0, 3)).toEqual([]);
    // The service is still healthy and serving.
    expect((await rest(base, "GET", "/api/keys", undefined, { token: aToken })).status).toBe(200);
  }, 180_000);

  it("a REST path with %ff%fe answers 400; a malformed application/proto body answers invalid_argument", async () => {
    const r = await send({ method: "GET", path: "/api/keys/%ff%fe", headers: { authorization: `Bearer ${aToken}` } });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error.code).toBe("invalid_argument");
    const c = await send({
      method: "POST",
      path: "/cvwallet.wallet.v1.WalletService/ListKeys",
      headers: { "content-type": "application/proto", authorization: `Bearer ${aToken}` },
      body: Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]),
    });
    expect(c.status).toBe(400);
    expect(JSON.parse(c.body).code).toBe("invalid_argument");
  });
});

describe("an oversized body still uploading", () => {
  /** Sends headers announcing `size` bytes, keeps uploading, and returns whatever answer came back. */
  async function upload(path: string, contentType: string, size: number): Promise<string> {
    const { promise, resolve } = Promise.withResolvers<string>();
    const socket = net.connect(Number(url.port), url.hostname);
    let received = "";
    socket.on("data", (d: Buffer) => {
      received += d.toString("latin1");
      // A whole answer (headers and the JSON error) is what counts; the connection may stay open.
      if (/\r\n\r\n[\s\S]*\}\s*$/.test(received)) resolve(received);
    });
    socket.on("error", (e: Error) => resolve(`${received}\n[socket error: ${e.message}]`));
    socket.on("close", () => resolve(received));
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${hToken}\r\n` +
        `Content-Type: ${contentType}\r\nContent-Length: ${size}\r\n\r\n`,
    );
    // Keep uploading, as a client that does not wait for an early answer does.
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < size && !socket.destroyed) {
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once("drain", pump);
      }
    };
    pump();
    const timer = setTimeout(() => resolve(`${received}\n[no complete answer after 5 s; ${sent} bytes sent]`), 5000);
    const answer = await promise;
    clearTimeout(timer);
    socket.destroy();
    return answer;
  }

  it("REST gets its 413 delivered, not a connection reset", async () => {
    const answer = await upload("/api/keys", "application/json", 8 * 1024 * 1024);
    expect(answer.split("\r\n")[0]).toBe("HTTP/1.1 413 Payload Too Large");
    expect(answer).toContain('"code":"resource_exhausted"');
  });

  it("Connect gets its resource_exhausted delivered, not a connection reset", async () => {
    const answer = await upload("/cvwallet.wallet.v1.WalletService/CreateKey", "application/json", 8 * 1024 * 1024);
    expect(answer).not.toContain("[socket error");
    expect(answer).toContain('"code":"resource_exhausted"');
  });
});

describe("cross-user matrix", () => {
  it("user A's session and token against every one of user B's records: no leak, no change", async () => {
    const idRoutes = ROUTES.filter((r) => r.path.includes(":id"));
    const leaks: string[] = [];
    for (const auth of [{ cookie: a.cookie }, { token: aToken }]) {
      for (const route of idRoutes) {
        const id = route.path.startsWith("/api/tokens") ? bTokenId : bKey.id;
        const path = route.path.replace(":id", id);
        const body = route.method === "patch" ? { name: "stolen", key: "sk-proj-overwritten-by-a-000000" } : undefined;
        const r = await rest(base, route.method.toUpperCase(), path, body, auth);
        if (r.status < 400 || r.text.includes(bKey.key) || r.text.includes(b.email)) {
          leaks.push(`${route.method} ${route.path} → ${r.status}`);
        }
        expect([403, 404]).toContain(r.status);
      }
      // Connect: the same records by id.
      const client = connectClient(base, auth);
      for (const call of [
        () => client.getKey({ id: bKey.id }),
        () => client.revealKey({ id: bKey.id }),
        () => client.updateKey({ id: bKey.id, name: "stolen" }),
        () => client.deleteKey({ id: bKey.id }),
        () => client.validateKey({ id: bKey.id }),
        () => client.getKeyUsage({ id: bKey.id, days: 7 }),
        () => client.revokeToken({ id: bTokenId }),
        () => client.revokeSession({ id: bKey.id }),
      ]) {
        const outcome = await call().then(
          (res) => `ok ${JSON.stringify(res)}`,
          (e: Error) => e.message,
        );
        if (outcome.startsWith("ok") || outcome.includes(bKey.key)) leaks.push(outcome.slice(0, 80));
      }
      // Listings and the provider fetch show only A's own records.
      const listed = await rest(base, "GET", "/api/keys", undefined, auth);
      expect(listed.body.keys.map((k: { id: string }) => k.id)).toEqual([aKey.id]);
      const fetched = await rest(base, "GET", "/api/keys/provider/openai", undefined, auth);
      expect(fetched.text).not.toContain(bKey.key);
      const tokens = await rest(base, "GET", "/api/tokens", undefined, auth);
      expect(tokens.text).not.toContain(bTokenId);
    }
    expect(leaks).toEqual([]);
    // B's key and token are untouched.
    const own = await rest(base, "POST", `/api/keys/${bKey.id}/reveal`, undefined, b);
    expect(own.body.key).toBe(bKey.key);
    expect((await rest(base, "GET", "/api/keys", undefined, { token: bToken })).status).toBe(200);
  });
});
