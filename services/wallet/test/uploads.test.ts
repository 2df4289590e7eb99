// Uploads that do not end well, against the real stack: a body that grows past the limit is
// refused as soon as it crosses it (not after the client has sent everything), and a request
// whose body stops arriving does not hold its connection for long.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createToken, expectNoSecretsInLogs, type Stack, signUp, startStack } from "./stack.ts";

const REQUEST_TIMEOUT = 3000;

let stack: Stack;
let url: URL;
let token: string;

beforeAll(async () => {
  // A short bound (WALLET_REQUEST_TIMEOUT) so the stalled-upload cases take seconds, not 15 s each.
  stack = await startStack({ requestTimeoutMs: REQUEST_TIMEOUT });
  url = new URL(stack.url);
  token = (await createToken(stack.url, await signUp(stack.url))).secret;
});
afterAll(async () => {
  if (stack) {
    expectNoSecretsInLogs(stack);
    // Cut-short uploads are the client's doing: nothing is logged above info for them.
    const loud = stack
      .logs()
      .split("\n")
      .filter((line) => /"level":(40|50|60)/.test(line));
    expect(loud.slice(0, 3)).toEqual([]);
  }
  await stack?.stop();
});

interface Outcome {
  /** Everything the server sent. */
  answer: string;
  /** Body bytes the client had written when the first byte of the answer came. */
  sentBeforeAnswer: number;
  /** Whether the server closed the connection (rather than the test giving up on it). */
  closedByServer: boolean;
}

/**
 * Opens a raw connection, sends `head`, then body bytes as fast as the server takes them until
 * `total` were sent (`frame` wraps each 64 KiB piece, e.g. as a chunk) and `end` after them, or
 * none at all when total is 0. Resolves when the server closes the connection or after `waitMs`.
 */
function upload(head: string, total: number, frame: (b: Buffer) => Buffer, end: string, waitMs: number) {
  return new Promise<Outcome>((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let answer = "";
    let sent = 0;
    let sentBeforeAnswer = -1;
    const finish = (closedByServer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ answer, sentBeforeAnswer, closedByServer });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on("data", (d: Buffer) => {
      if (sentBeforeAnswer < 0) sentBeforeAnswer = sent;
      answer += d.toString("latin1");
    });
    // Writing into a connection the server closed fails (EPIPE, ECONNRESET): expected here.
    socket.on("error", () => {});
    socket.on("close", () => finish(true));
    socket.write(head);
    const piece = Buffer.alloc(64 * 1024, 0x20);
    const pump = () => {
      while (sent < total && !socket.destroyed) {
        sent += piece.length;
        if (!socket.write(frame(piece))) return void socket.once("drain", pump);
      }
      if (sent >= total && total > 0 && !socket.destroyed) socket.write(end);
    };
    pump();
  });
}

const asChunk = (b: Buffer) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from("\r\n")]);
const head = (path: string, framing: string) =>
  `POST ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\n` +
  `Content-Type: application/json\r\n${framing}\r\n\r\n`;
const MiB = 1024 * 1024;

const REST_413 = { error: { code: "resource_exhausted", message: "the request body is too large" } };

function expectRefused(outcome: Outcome, total: number, error: object = REST_413) {
  const [status, ...rest] = outcome.answer.split("\r\n");
  expect(status).toBe("HTTP/1.1 413 Payload Too Large");
  // The answer came while the client still had most of its upload to send, and the server
  // hung up instead of reading the rest.
  expect(outcome.sentBeforeAnswer).toBeGreaterThanOrEqual(0);
  expect(outcome.sentBeforeAnswer).toBeLessThan(total);
  expect(outcome.closedByServer).toBe(true);
  expect(rest).toContain("Connection: close");
  const body = outcome.answer.slice(outcome.answer.indexOf("\r\n\r\n") + 4);
  expect(JSON.parse(body)).toEqual(error);
}

describe("a body growing past the limit", () => {
  it("chunked: 413 as soon as the limit is crossed, then the connection closes", async () => {
    const total = 64 * MiB;
    const outcome = await upload(head("/api/keys", "Transfer-Encoding: chunked"), total, asChunk, "0\r\n\r\n", 60_000);
    expectRefused(outcome, total);
  }, 90_000);

  it("with a Content-Length over the limit: 413 before the body is read", async () => {
    const total = 64 * MiB;
    const outcome = await upload(head("/api/keys", `Content-Length: ${total}`), total, (b) => b, "", 60_000);
    expectRefused(outcome, total);
  }, 90_000);

  it("the OAuth form endpoints refuse the same way", async () => {
    const total = 64 * MiB;
    const outcome = await upload(
      `POST /oauth/token HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
        "Transfer-Encoding: chunked\r\n\r\n",
      total,
      asChunk,
      "0\r\n\r\n",
      60_000,
    );
    // In OAuth's own error shape, as the OAuth router answers it.
    expectRefused(outcome, total, { error: "invalid_request", error_description: "the request body is too large" });
  }, 90_000);

  it("Connect: resource_exhausted as soon as the limit is crossed, then the connection closes", async () => {
    const total = 64 * MiB;
    const outcome = await upload(
      head("/cvwallet.wallet.v1.WalletService/CreateKey", "Transfer-Encoding: chunked"),
      total,
      asChunk,
      "0\r\n\r\n",
      60_000,
    );
    expect(outcome.sentBeforeAnswer).toBeGreaterThanOrEqual(0);
    expect(outcome.sentBeforeAnswer).toBeLessThan(total);
    expect(outcome.closedByServer).toBe(true);
    expect(outcome.answer.split("\r\n")).toContain("Connection: close");
    expect(outcome.answer).toContain('"code":"resource_exhausted"');
  }, 90_000);

  it("a chunked body under the limit is read and answered as before, the connection kept", async () => {
    const name = "chunked";
    const body = Buffer.from(JSON.stringify({ provider: "openai", name, key: "sk-proj-chunkedupload00000000000000" }));
    const socket = net.connect(Number(url.port), url.hostname);
    const answer = await new Promise<string>((resolve) => {
      let got = "";
      socket.on("data", (d: Buffer) => {
        got += d.toString("latin1");
        if (/\r\n\r\n[\s\S]*\}$/.test(got)) resolve(got);
      });
      socket.write(head("/api/keys", "Transfer-Encoding: chunked"));
      socket.write(asChunk(body.subarray(0, 10)));
      socket.write(asChunk(body.subarray(10)));
      socket.write("0\r\n\r\n");
    });
    socket.destroy();
    expect(answer.split("\r\n")[0]).toBe("HTTP/1.1 201 Created");
    expect(answer).not.toContain("Connection: close");
    expect(answer).toContain(`"name":"${name}"`);
  });
});

describe.concurrent("a request whose body stops arriving", () => {
  // The server bounds how long receiving a request may take (REQUEST_TIMEOUT); waiting
  // four times that long only keeps a slow machine from failing the test. Before the bound,
  // Node's defaults held such a connection for minutes.
  const wait = REQUEST_TIMEOUT * 4;
  for (const [what, path] of [
    ["Connect", "/cvwallet.wallet.v1.WalletService/ListKeys"],
    ["REST", "/api/keys"],
  ] as const) {
    it(
      `${what}: the server answers 408 and closes the connection`,
      async () => {
        // A few bytes of a chunked body, then nothing more.
        const outcome = await upload(`${head(path, "Transfer-Encoding: chunked")}5\r\n{"a":\r\n`, 0, asChunk, "", wait);
        expect(outcome.closedByServer).toBe(true);
        expect(outcome.answer.split("\r\n")[0]).toBe("HTTP/1.1 408 Request Timeout");
      },
      wait + 10_000,
    );
  }
});
