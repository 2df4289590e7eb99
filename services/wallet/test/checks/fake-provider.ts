// Local HTTP servers that speak each provider's key check as the provider documents it: the
// path and method, the auth header and its format, required headers (anthropic-version), the
// status codes and error bodies. A request that does not follow the contract is answered the
// way the provider would (404 for a wrong path, 400 for a missing version header, 401 for a
// missing or wrong key), so a checker that gets the contract wrong fails the "valid" test.
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ProviderId } from "../../src/checks/registry.ts";

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export type Scenario = "ok" | "invalid" | "rate_limited" | "quota" | "error" | "hang" | "redirect";

/** Marker put in every body the fake providers send: it must never show up in a log line. */
export const BODY_MARKER = "provider-body-marker-7f3a";

export interface Contract {
  id: ProviderId;
  method: "GET" | "POST";
  /** Path as documented (for custom: under the key's base URL, which the tests set to `<server>/v1`). */
  path: string;
  /** Reads the key from the documented header, or undefined when the header is absent or malformed. */
  keyFrom: (headers: http.IncomingHttpHeaders) => string | undefined;
  /** The header that carries the key (lowercase). */
  keyHeader: string;
  /** Headers the provider requires besides the key. */
  requiredHeaders?: Record<string, string>;
  /** A realistic key for this provider (random tail). */
  newKey: () => string;
  replies: Record<Exclude<Scenario, "hang" | "redirect">, Reply>;
  /** What the provider answers for a request without a valid key. */
  unauthenticated: Reply;
}

const bearer = (headers: http.IncomingHttpHeaders) => {
  const m = /^Bearer (\S+)$/.exec(headers.authorization ?? "");
  return m?.[1];
};
const header = (name: string) => (headers: http.IncomingHttpHeaders) => {
  const v = headers[name];
  return typeof v === "string" && v !== "" ? v : undefined;
};
const tail = (n = 32) => randomBytes(n).toString("base64url").slice(0, n);

const openAiError = (message: string, type: string, code: string | null) => ({
  error: { message: `${message} ${BODY_MARKER}`, type, param: null, code },
});
const openAiList = { object: "list", data: [{ id: "model-1", object: "model", owned_by: BODY_MARKER }] };

/** The OpenAI error contract, shared by the OpenAI-compatible providers. */
const openAiStyle = (
  retryAfter: string,
): Pick<Contract, "replies" | "unauthenticated" | "keyFrom" | "keyHeader" | "method"> => ({
  method: "GET",
  keyFrom: bearer,
  keyHeader: "authorization",
  unauthenticated: {
    status: 401,
    body: openAiError("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
  },
  replies: {
    ok: { status: 200, body: openAiList },
    invalid: {
      status: 401,
      body: openAiError("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    },
    rate_limited: {
      status: 429,
      headers: { "retry-after": retryAfter },
      body: openAiError("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    },
    quota: {
      status: 429,
      body: openAiError("You exceeded your current quota.", "insufficient_quota", "insufficient_quota"),
    },
    error: { status: 500, body: openAiError("The server had an error.", "server_error", null) },
  },
});

export const CONTRACTS: Contract[] = [
  {
    id: "openai",
    path: "/v1/models",
    newKey: () => `sk-proj-${tail(48)}`,
    ...openAiStyle("20"),
  },
  {
    id: "anthropic",
    method: "GET",
    path: "/v1/models",
    keyFrom: header("x-api-key"),
    keyHeader: "x-api-key",
    requiredHeaders: { "anthropic-version": "2023-06-01" },
    newKey: () => `sk-ant-api03-${tail(48)}`,
    unauthenticated: {
      status: 401,
      body: { type: "error", error: { type: "authentication_error", message: `invalid x-api-key ${BODY_MARKER}` } },
    },
    replies: {
      ok: {
        status: 200,
        body: { data: [{ type: "model", id: "claude-x", display_name: BODY_MARKER }], has_more: false },
      },
      invalid: {
        status: 401,
        body: { type: "error", error: { type: "authentication_error", message: `invalid x-api-key ${BODY_MARKER}` } },
      },
      rate_limited: {
        status: 429,
        headers: { "retry-after": "31" },
        body: { type: "error", error: { type: "rate_limit_error", message: `Rate limited ${BODY_MARKER}` } },
      },
      // What Anthropic answers when the account has no credit left.
      quota: {
        status: 400,
        body: {
          type: "error",
          error: {
            type: "invalid_request_error",
            message: `Your credit balance is too low to access the Anthropic API. ${BODY_MARKER}`,
          },
        },
      },
      error: { status: 529, body: { type: "error", error: { type: "overloaded_error", message: BODY_MARKER } } },
    },
  },
  {
    id: "google",
    method: "GET",
    path: "/v1beta/models",
    keyFrom: header("x-goog-api-key"),
    keyHeader: "x-goog-api-key",
    newKey: () => `AIza${tail(35)}`,
    unauthenticated: {
      status: 400,
      body: {
        error: {
          code: 400,
          message: `API key not valid. Please pass a valid API key. ${BODY_MARKER}`,
          status: "INVALID_ARGUMENT",
          details: [
            {
              "@type": "type.googleapis.com/google.rpc.ErrorInfo",
              reason: "API_KEY_INVALID",
              domain: "googleapis.com",
            },
          ],
        },
      },
    },
    replies: {
      ok: { status: 200, body: { models: [{ name: "models/gemini-x", displayName: BODY_MARKER }] } },
      invalid: {
        status: 400,
        body: {
          error: {
            code: 400,
            message: `API key not valid. Please pass a valid API key. ${BODY_MARKER}`,
            status: "INVALID_ARGUMENT",
            details: [
              {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                reason: "API_KEY_INVALID",
                domain: "googleapis.com",
              },
            ],
          },
        },
      },
      // Google sends no Retry-After header; the delay is in RetryInfo.
      rate_limited: {
        status: 429,
        body: {
          error: {
            code: 429,
            message: `Resource has been exhausted ${BODY_MARKER}`,
            status: "RESOURCE_EXHAUSTED",
            details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "42s" }],
          },
        },
      },
      quota: { status: 402, body: { error: { code: 402, message: BODY_MARKER, status: "FAILED_PRECONDITION" } } },
      error: { status: 503, body: { error: { code: 503, message: BODY_MARKER, status: "UNAVAILABLE" } } },
    },
  },
  {
    id: "mistral",
    method: "GET",
    path: "/v1/models",
    keyFrom: bearer,
    keyHeader: "authorization",
    newKey: () => tail(32),
    unauthenticated: { status: 401, body: { message: `Unauthorized ${BODY_MARKER}`, request_id: "r1" } },
    replies: {
      ok: { status: 200, body: openAiList },
      invalid: { status: 401, body: { message: `Unauthorized ${BODY_MARKER}`, request_id: "r1" } },
      rate_limited: {
        status: 429,
        headers: { "retry-after": "5" },
        body: { message: `Requests rate limit exceeded ${BODY_MARKER}` },
      },
      quota: { status: 402, body: { message: `Payment required ${BODY_MARKER}` } },
      error: { status: 500, body: { message: BODY_MARKER } },
    },
  },
  {
    id: "cohere",
    method: "POST",
    path: "/v1/check-api-key",
    keyFrom: bearer,
    keyHeader: "authorization",
    newKey: () => tail(40),
    unauthenticated: { status: 401, body: { id: "e1", message: `invalid api token ${BODY_MARKER}` } },
    replies: {
      ok: { status: 200, body: { valid: true, organization_id: BODY_MARKER, owner_id: "o1" } },
      invalid: { status: 401, body: { id: "e1", message: `invalid api token ${BODY_MARKER}` } },
      rate_limited: {
        status: 429,
        headers: { "retry-after": "60" },
        body: { id: "e2", message: `You are using a Trial key ${BODY_MARKER}` },
      },
      quota: { status: 402, body: { id: "e3", message: `Please add a payment method ${BODY_MARKER}` } },
      error: { status: 500, body: { id: "e4", message: BODY_MARKER } },
    },
  },
  {
    id: "groq",
    path: "/openai/v1/models",
    newKey: () => `gsk_${tail(52)}`,
    ...openAiStyle("7"),
  },
  {
    id: "together",
    path: "/v1/models",
    newKey: () => `tgp_v1_${tail(43)}`,
    ...openAiStyle("3"),
  },
  {
    id: "openrouter",
    method: "GET",
    path: "/api/v1/key",
    keyFrom: bearer,
    keyHeader: "authorization",
    newKey: () => `sk-or-v1-${tail(64)}`,
    unauthenticated: {
      status: 401,
      body: { error: { code: 401, message: `No auth credentials found ${BODY_MARKER}` } },
    },
    replies: {
      ok: {
        status: 200,
        body: {
          data: {
            label: "sk-or-v1-0e6...1c96",
            limit: 10,
            limit_remaining: 4.9,
            usage: 5.1,
            is_free_tier: false,
            is_provisioning_key: false,
            limit_reset: null,
            note: BODY_MARKER,
          },
        },
      },
      invalid: { status: 401, body: { error: { code: 401, message: `User not found. ${BODY_MARKER}` } } },
      rate_limited: {
        status: 429,
        headers: { "retry-after": "11" },
        body: { error: { code: 429, message: `Rate limit exceeded ${BODY_MARKER}` } },
      },
      quota: { status: 402, body: { error: { code: 402, message: `Insufficient credits ${BODY_MARKER}` } } },
      error: { status: 502, body: { error: { code: 502, message: BODY_MARKER } } },
    },
  },
  {
    id: "custom",
    path: "/v1/models",
    newKey: () => `sk-${tail(40)}`,
    ...openAiStyle("9"),
  },
];

export interface FakeServer {
  /** http://127.0.0.1:<port> */
  url: string;
  /** 127.0.0.1:<port> */
  host: string;
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** Starts a loopback server (ephemeral port) that records every request and answers with `handle`. */
export async function startServer(
  handle: (request: RecordedRequest, res: http.ServerResponse) => void,
): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const recorded = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      requests.push(recorded);
      handle(recorded, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function send(res: http.ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
  res.end(reply.body === undefined ? "" : JSON.stringify(reply.body));
}

export interface FakeProvider extends FakeServer {
  contract: Contract;
  /** The key this provider accepts. */
  validKey: string;
  scenario: Scenario;
  /** Where "redirect" sends the client. */
  redirectTo: string;
}

/** A fake provider following `contract`; set `scenario` to choose what an authenticated check gets. */
export async function startFakeProvider(contract: Contract): Promise<FakeProvider> {
  let fake: FakeProvider | undefined;
  const server = await startServer((req, res) => {
    const state = fake!;
    const pathname = new URL(req.url, "http://x").pathname;
    if (req.method !== contract.method || pathname !== contract.path) {
      return send(res, { status: 404, body: { error: { message: "Not found", code: "not_found" } } });
    }
    for (const [name, value] of Object.entries(contract.requiredHeaders ?? {})) {
      if (req.headers[name] !== value) {
        return send(res, {
          status: 400,
          body: { type: "error", error: { type: "invalid_request_error", message: `${name} header is required` } },
        });
      }
    }
    const key = contract.keyFrom(req.headers);
    if (key === undefined) return send(res, contract.unauthenticated);
    if (state.scenario === "hang") return; // never answers
    if (state.scenario === "redirect") {
      res.writeHead(307, { location: `${state.redirectTo}${req.url}` });
      return res.end();
    }
    // A key the provider does not know (revoked, mistyped) gets the invalid answer.
    if (state.scenario === "ok" && key !== state.validKey) return send(res, contract.replies.invalid);
    return send(res, contract.replies[state.scenario]);
  });
  fake = { ...server, contract, validKey: contract.newKey(), scenario: "ok", redirectTo: "" };
  return fake;
}
