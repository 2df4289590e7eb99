// One loopback HTTP server that answers the providers' key checks the way their docs describe
// (OpenAI-style GET /v1/models with a bearer key, Anthropic's x-api-key, Google's
// x-goog-api-key, OpenRouter's GET /api/v1/key with credit figures). The wallet reaches it
// through WALLET_PROVIDER_<ID>_BASE_URL. A key is valid until the test revokes it.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeProviders {
  baseUrl: string;
  /** From now on, checks of this key answer 401 like the provider does for a revoked key. */
  revoke(key: string): void;
  /** Every key that reached the server, in order (the test asserts where keys went). */
  seen: string[];
  close(): Promise<void>;
}

function keyOf(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith("Bearer ")) return auth.slice(7);
  const header = req.headers["x-api-key"] ?? req.headers["x-goog-api-key"];
  return typeof header === "string" ? header : undefined;
}

export async function startFakeProviders(): Promise<FakeProviders> {
  const revoked = new Set<string>();
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    const key = keyOf(req);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (!key) return json(401, { error: { code: "missing_api_key", message: "no key" } });
    seen.push(key);
    if (revoked.has(key)) {
      return json(401, {
        error: { message: "Incorrect API key provided.", type: "invalid_request_error", code: "invalid_api_key" },
      });
    }
    const path = (req.url ?? "").split("?")[0];
    if (path?.endsWith("/api/v1/key")) {
      return json(200, {
        data: { label: "e2e", limit: 10, limit_remaining: 4.9, usage: 5.1, is_free_tier: false },
      });
    }
    if (path?.endsWith("/check-api-key")) return json(200, { valid: true });
    if (path?.endsWith("/models")) return json(200, { object: "list", data: [{ id: "model-1", object: "model" }] });
    return json(404, { error: { message: "not found" } });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    revoke: (key) => revoked.add(key),
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
