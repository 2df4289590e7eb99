// Builds the wallet's request handling from its dependencies; does not listen (serve.ts does)
// and does not read the environment (config.ts does). One wiring: Connect's Node adapter
// answers RPCs itself and hands everything else to the Express app (REST, probes, UI). Metrics
// have a listener of their own (WALLET_METRICS_ADDR), never the public port.
import type http from "node:http";
import type http2 from "node:http2";
import { createValidator } from "@bufbuild/protovalidate";
import { type ConnectRouter, createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { WalletService } from "@cv-wallet/proto/wallet/v1";
import express, { type Request, type Response } from "express";
import type { WalletConfig } from "./config.ts";
import type { WalletDeps } from "./domain/deps.ts";
import { walletOperations } from "./domain/operations.ts";
import { rewriteBinaryParseErrors } from "./edge/connect/parse-errors.ts";
import { hostOf, requestFactsKey, walletRoutes } from "./edge/connect/service.ts";
import { HEALTH_SERVICE, healthRoutes } from "./edge/grpc/health.ts";
import { descriptorRegistry, reflectionRoutes } from "./edge/grpc/reflection.ts";
import { closeIfBodyUnread, limitBody } from "./edge/http/body-limit.ts";
import { credentialsFrom, makeCall, sessionCookie } from "./edge/http/call.ts";
import { clientFactsFrom } from "./edge/http/client-facts.ts";
import { errorMiddleware, sendError } from "./edge/http/errors.ts";
import { securityHeaders, setSecurityHeaders } from "./edge/http/security.ts";
import { webUi } from "./edge/http/web-ui.ts";
import { oauthRouter } from "./edge/rest/oauth.ts";
import { restRouter } from "./edge/rest/rest.ts";
import type { WalletMetrics } from "./metrics.ts";

export interface WalletHandlerOptions {
  deps: WalletDeps;
  metrics: WalletMetrics;
  settings: Pick<WalletConfig, "trustProxy" | "bodyLimitBytes" | "webDir">;
}

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type Http2Listener = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;

/**
 * The wallet as a Node request listener (REST, Connect, gRPC-Web, probes, metrics, UI), plus
 * `grpc`: the Connect service alone for an HTTP/2 listener speaking the gRPC protocol.
 */
export type WalletHandler = http.RequestListener & { grpc: Http2Listener; metrics: http.RequestListener };

export function createWalletHandler({ deps, metrics, settings }: WalletHandlerOptions): WalletHandler {
  const logger = deps.logger;
  const ops = walletOperations(deps);
  const validator = createValidator();
  const secureCookies = Boolean(deps.settings.publicUrl?.startsWith("https:"));
  const routes = walletRoutes({ ops, validator, logger, secureCookies, onCall: metrics.rpc });
  // What the Connect handlers learn from the raw request; the gRPC listener is never behind
  // the trusted proxy, so it does not read X-Forwarded-For.
  const requestFacts = (trustProxy: boolean) => (req: NodeRequest) =>
    createContextValues().set(requestFactsKey, {
      address: clientAddress(req, trustProxy),
      secure:
        Boolean((req.socket as { encrypted?: boolean }).encrypted) ||
        (trustProxy &&
          String(req.headers["x-forwarded-proto"] ?? "")
            .split(",")[0]
            ?.trim() === "https"),
      host: hostOf(req.headers),
    });

  // Readiness for /readyz and grpc.health.v1: the store answers and the crypto service reports
  // SERVING on its own health service (no failing call, so no error counter moves). Cached
  // briefly so a probe storm does not become a crypto-call storm.
  let readyCache: { at: number; error?: string | undefined } | undefined;
  const readiness = async (): Promise<string | undefined> => {
    if (!readyCache || Date.now() - readyCache.at > 1000) {
      const problems: string[] = [];
      // The store's ping writes: a full or read-only disk makes the instance not ready.
      await deps.store.ping().catch(() => problems.push("store (cannot write)"));
      await deps.crypto.ping().catch(() => problems.push("crypto service"));
      readyCache = { at: Date.now(), error: problems.length ? `not ready: ${problems.join(", ")}` : undefined };
    }
    return readyCache.error;
  };

  const app = express();
  app.disable("x-powered-by");
  // No ETags: API answers (keys among them) are never cached or revalidated.
  app.set("etag", false);
  app.set("trust proxy", settings.trustProxy);
  app.use(securityHeaders({ hsts: secureCookies }));
  app.use((req, res, next) => {
    const started = performance.now();
    res.on("finish", () => {
      const route = routeLabel(req);
      const seconds = (performance.now() - started) / 1000;
      metrics.httpRequest(req.method, route, res.statusCode, seconds);
      // Path pattern and status only: never the query string, headers or body.
      if (route.startsWith("/api") || route.startsWith("/oauth")) {
        logger.info({ method: req.method, route, status: res.statusCode, ms: Math.round(seconds * 1000) }, "request");
      }
    });
    next();
  });

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    const error = await readiness();
    if (error) sendError(res, 503, "unavailable", error);
    else res.json({ status: "ready" });
  });

  // OAuth 2.0 device sign-in (RFC 8628): form-encoded, OAuth's JSON errors.
  const requestInfo = (req: Request) => ({
    address: req.ip ?? "",
    userAgent: req.get("user-agent") ?? "",
    origin: req.get("origin"),
    host: req.get("host"),
    secure: req.secure,
    unsafe: !["GET", "HEAD", "OPTIONS"].includes(req.method),
    client: clientFactsFrom((name) => req.get(name)),
  });
  // limitBody: an oversized body is answered 413 as soon as it crosses the limit (body-parser
  // alone reads it to the end first).
  app.use(
    "/oauth",
    limitBody(
      settings.bodyLimitBytes,
      oauthRouter(deps, { bodyLimitBytes: settings.bodyLimitBytes, requestInfo }),
      // The OAuth error shape the router itself answers an oversize body with.
      (res) =>
        res
          .status(413)
          .set({ "Cache-Control": "no-store", Pragma: "no-cache" })
          .json({ error: "invalid_request", error_description: "the request body is too large" }),
    ),
  );

  // REST under /api: JSON bodies are parsed there only (Connect reads its own).
  const json = limitBody(settings.bodyLimitBytes, express.json({ limit: settings.bodyLimitBytes, strict: true }));
  // GETs carry no body; skipping the parser for them saves a stream read per retrieval.
  app.use("/api", (req, res, next) => (req.method === "GET" || req.method === "HEAD" ? next() : json(req, res, next)));
  app.use(
    restRouter(ops, validator, (req: Request, res: Response) =>
      makeCall(
        requestInfo(req),
        credentialsFrom(req.get("authorization"), req.get("cookie")),
        sessionCookie(secureCookies || req.secure, (v) => res.append("Set-Cookie", v)),
      ),
    ),
  );
  app.use("/api", (_req, res) => sendError(res, 404, "not_found", "no such API route"));

  // The UI (when built), a JSON 404 for everything else, and the error mapping.
  const ui = webUi(settings.webDir);
  if (ui) app.use(ui);
  else logger.info({ webDir: settings.webDir }, "no built web UI found; serving the API only");
  app.use((_req: Request, res: Response) => sendError(res, 404, "not_found", "not found"));
  app.use(errorMiddleware(logger));

  const connect = connectNodeAdapter({
    routes,
    readMaxBytes: settings.bodyLimitBytes,
    jsonOptions: { alwaysEmitImplicit: true },
    fallback: app as unknown as NonNullable<Parameters<typeof connectNodeAdapter>[0]["fallback"]>,
    contextValues: requestFacts(settings.trustProxy),
  });
  const handler: http.RequestListener = (req, res) => {
    // RPCs answered by the Connect adapter never reach Express: give them the headers here.
    if (req.url?.startsWith("/cvwallet.")) {
      setSecurityHeaders(req, res, req.url, secureCookies);
      rewriteBinaryParseErrors(req, res);
      closeIfBodyUnread(req, res);
    }
    connect(req, res);
  };
  // The gRPC listener also answers grpc.health.v1 and server reflection (grpcurl, probes).
  const descriptors = descriptorRegistry();
  const grpcRoutes = (router: ConnectRouter) => {
    routes(router);
    healthRoutes(descriptors, {
      services: [WalletService.typeName],
      ready: async () => (await readiness()) === undefined,
    })(router);
    reflectionRoutes(descriptors, [WalletService.typeName, HEALTH_SERVICE])(router);
  };
  const grpc: Http2Listener = connectNodeAdapter({
    routes: grpcRoutes,
    readMaxBytes: settings.bodyLimitBytes,
    contextValues: requestFacts(false),
  });
  // GET /metrics for the separate metrics listener (WALLET_METRICS_ADDR); 404 for anything else.
  const metricsListener: http.RequestListener = (req, res) => {
    if (req.method !== "GET" || req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    metrics.registry.metrics().then(
      (body) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(body),
      (err: unknown) => {
        logger.error({ err }, "metrics collection failed");
        res.writeHead(500).end();
      },
    );
  };
  return Object.assign(handler, { grpc, metrics: metricsListener });
}

function routeLabel(req: Request): string {
  // baseUrl: the mount point of a sub-router (/oauth), "" for routes on the app itself.
  if (req.route?.path) return `${req.baseUrl}${String(req.route.path)}`;
  if (req.path.startsWith("/cvwallet.")) return "connect";
  if (req.path.startsWith("/api/")) return "/api/unknown";
  if (req.path.startsWith("/oauth/")) return "/oauth/unknown";
  return ["/healthz", "/readyz", "/metrics"].includes(req.path) ? req.path : "static";
}

function clientAddress(req: NodeRequest, trustProxy: boolean): string {
  const forwarded = req.headers["x-forwarded-for"];
  if (trustProxy && typeof forwarded === "string") return forwarded.split(",")[0]!.trim();
  return req.socket.remoteAddress ?? "";
}
