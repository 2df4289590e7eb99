// Builds the wallet from its parts and serves it; does not read the environment (main.ts
// does). startWallet is also what tests and other workspaces use to run a real wallet on
// an ephemeral port.
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { createValidator } from "@bufbuild/protovalidate";
import { type ConnectRouter, createContextValues } from "@connectrpc/connect";
import { expressConnectMiddleware } from "@connectrpc/connect-express";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createLogger, type Logger } from "@cv-wallet/common/logger";
import express, { type Request, type Response } from "express";
import { defaultWebDir, type WalletConfig } from "./config.ts";
import { hostOf, requestFactsKey, walletRoutes } from "./connect/service.ts";
import { type CryptoClient, createCryptoClient } from "./crypto-client.ts";
import type { WalletDeps } from "./domain/deps.ts";
import { scheduledCheck } from "./domain/keys.ts";
import { FailureThrottle, OncePer, RateLimiter } from "./domain/limits.ts";
import { walletOperations } from "./domain/operations.ts";
import { credentialsFrom, makeCall, sessionCookie } from "./http/call.ts";
import { errorMiddleware, sendError } from "./http/errors.ts";
import { restRouter } from "./http/rest.ts";
import { securityHeaders, setSecurityHeaders } from "./http/security.ts";
import { webUi } from "./http/web-ui.ts";
import { createMetrics, type WalletMetrics } from "./metrics.ts";
import type { ProviderConfig } from "./providers/config.ts";
import { assertSafeBaseUrl } from "./providers/url-safety.ts";
import type { CheckResult, KeyChecker } from "./providers/validate.ts";
import { createKeyChecker } from "./providers/validate.ts";
import { openMongoStore } from "./store/mongo/mongo-store.ts";
import type { KeyRecord, Store } from "./store/ports.ts";
import { openSqliteStore } from "./store/sqlite/sqlite-store.ts";

/** How Connect and Express share the port; the benchmark measures both (see README). */
export type HttpMode = "connect-express" | "node-adapter";

/** What startWallet needs: a data dir and the crypto service; everything else has a default. */
export type StartWalletOptions = Partial<Omit<WalletConfig, "crypto" | "providers">> & {
  dataDir: string;
  crypto: { address: string; token: string; timeoutMs?: number; tls?: WalletConfig["crypto"]["tls"] };
  providers?: Partial<ProviderConfig>;
  /** Defaults to a JSON logger on stdout at logLevel. */
  logger?: Logger;
  /** Replaces the provider checker (the real one calls provider APIs or their base URL overrides). */
  checker?: KeyChecker;
  httpMode?: HttpMode;
};

export interface RunningWallet {
  /** http://host:port of REST, Connect and the UI. */
  url: string;
  /** host:port of the gRPC (HTTP/2) listener, when grpcAddr was set. */
  grpcAddress?: string | undefined;
  store: Store;
  metrics: WalletMetrics;
  /** For the validation scheduler (main.ts): keys due for a check, and one check. */
  revalidation: {
    listDue(olderThan: Date, limit: number): Promise<(KeyRecord & { ownerId: string })[]>;
    runCheck(key: KeyRecord): Promise<CheckResult>;
  };
  /** Stops accepting, finishes in-flight requests, closes the crypto channel and the store. */
  stop(): Promise<void>;
}

const DEFAULTS = {
  httpAddr: "127.0.0.1:8080",
  sessionTtlMs: 7 * 86_400_000,
  retrievalRateLimitPerMinute: 600,
  bodyLimitBytes: 65_536,
  trustProxy: false,
  logLevel: "info",
};

// Measured with bench/wallet.bench.ts: connectNodeAdapter with Express as its fallback serves
// Connect ~10 % faster (RPCs skip Express entirely) and REST the same as connect-express.
export const DEFAULT_HTTP_MODE: HttpMode = "node-adapter";

export async function startWallet(options: StartWalletOptions): Promise<RunningWallet> {
  const config = { ...DEFAULTS, ...options };
  const logger = options.logger ?? createLogger({ service: "wallet", level: config.logLevel });
  const metrics = createMetrics();
  const providerConfig: ProviderConfig = {
    baseUrlOverrides: {},
    allowPrivateBaseUrls: false,
    validateIntervalMs: 0,
    ...options.providers,
  };
  const store = options.mongodbUri
    ? await openMongoStore(options.mongodbUri, logger)
    : openSqliteStore(options.dataDir);
  const crypto: CryptoClient = createCryptoClient({
    address: options.crypto.address,
    token: options.crypto.token,
    timeoutMs: options.crypto.timeoutMs ?? 3000,
    tls: options.crypto.tls,
    logger,
    onCall: metrics.cryptoCall,
  });
  const checker =
    options.checker ??
    createKeyChecker({
      baseUrlOverrides: providerConfig.baseUrlOverrides,
      allowPrivateBaseUrls: providerConfig.allowPrivateBaseUrls,
      logger,
    });
  const deps: WalletDeps = {
    store,
    crypto,
    logger,
    checker,
    assertSafeBaseUrl: (url) => assertSafeBaseUrl(url, { allowPrivate: providerConfig.allowPrivateBaseUrls }),
    settings: { publicUrl: config.publicUrl, sessionTtlMs: config.sessionTtlMs },
    limits: {
      retrievals: new RateLimiter(config.retrievalRateLimitPerMinute),
      signInPerAccount: new FailureThrottle(5, 15 * 60_000),
      signInPerAddress: new FailureThrottle(30, 15 * 60_000),
      metadataAudit: new OncePer(60 * 60_000),
    },
    onRetrieval: metrics.retrieval,
  };
  const ops = walletOperations(deps);
  const validator = createValidator();
  const secureCookies = Boolean(config.publicUrl?.startsWith("https:"));
  const routes = walletRoutes({ ops, validator, logger, secureCookies, onCall: metrics.rpc });
  const connectOptions = {
    routes,
    readMaxBytes: config.bodyLimitBytes,
    jsonOptions: { alwaysEmitImplicit: true },
  };

  const mode = options.httpMode ?? DEFAULT_HTTP_MODE;
  const parts: AppParts = { deps, config, ops, validator, metrics, secureCookies, logger };
  const app = buildExpressApp(parts);
  // Connect before REST, so RPCs do not walk the REST routes.
  if (mode === "connect-express") {
    app.use(
      expressConnectMiddleware({
        ...connectOptions,
        contextValues: (req) =>
          createContextValues().set(requestFactsKey, {
            address: req.ip ?? "",
            secure: req.secure,
            host: hostOf(req.headers),
          }),
      }),
    );
  }
  mountRest(app, parts);
  finishExpressApp(app, config.webDir ?? defaultWebDir(), logger);

  const handler =
    mode === "node-adapter"
      ? connectNodeAdapter({
          ...connectOptions,
          fallback: app as unknown as NonNullable<Parameters<typeof connectNodeAdapter>[0]["fallback"]>,
          contextValues: (req) =>
            createContextValues().set(requestFactsKey, {
              address: clientAddress(req, config.trustProxy),
              secure: Boolean((req.socket as { encrypted?: boolean }).encrypted),
              host: hostOf(req.headers),
            }),
        })
      : app;
  const listener = handler as http.RequestListener;
  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    // RPCs answered by the Connect adapter never reach Express: give them the headers here.
    if (mode === "node-adapter" && req.url?.startsWith("/cvwallet.")) setSecurityHeaders(res, req.url, secureCookies);
    listener(req, res);
  });
  await listen(server, config.httpAddr);
  const url = `http://${hostPort(server, config.httpAddr)}`;

  let grpcServer: http2.Http2Server | undefined;
  let grpcAddress: string | undefined;
  if (config.grpcAddr) {
    grpcServer = http2.createServer(
      connectNodeAdapter({
        routes: routes as (router: ConnectRouter) => void,
        readMaxBytes: config.bodyLimitBytes,
        contextValues: (req) =>
          createContextValues().set(requestFactsKey, {
            address: clientAddress(req, false),
            secure: false,
            host: hostOf(req.headers),
          }),
      }),
    );
    await listen(grpcServer, config.grpcAddr);
    grpcAddress = hostPort(grpcServer, config.grpcAddr);
  }
  logger.info({ url, grpcAddress, store: store.kind, httpMode: mode }, "wallet listening");

  let stopped: Promise<void> | undefined;
  return {
    url,
    grpcAddress,
    store,
    metrics,
    revalidation: {
      listDue: async (olderThan, limit) =>
        (await store.keys.dueForValidation(olderThan, limit)).map((k) => ({ ...k, ownerId: k.userId })),
      runCheck: async (key) => {
        const v = await scheduledCheck(deps, key);
        return {
          status: v.status,
          detail: v.detail,
          checkedAt: v.checkedAt ?? new Date(),
          retryAfterSeconds: v.retryAfterSeconds,
        };
      },
    },
    stop: () => {
      stopped ??= (async () => {
        await Promise.all([close(server), grpcServer ? close(grpcServer) : undefined]);
        crypto.close();
        await store.close();
        logger.info("wallet stopped");
      })();
      return stopped;
    },
  };
}

interface AppParts {
  deps: WalletDeps;
  config: typeof DEFAULTS & StartWalletOptions;
  ops: ReturnType<typeof walletOperations>;
  validator: ReturnType<typeof createValidator>;
  metrics: WalletMetrics;
  secureCookies: boolean;
  logger: Logger;
}

function buildExpressApp(parts: AppParts): express.Express {
  const { deps, config, metrics, logger } = parts;
  const app = express();
  app.disable("x-powered-by");
  // No ETags: API answers (keys among them) are never cached or revalidated.
  app.set("etag", false);
  app.set("trust proxy", config.trustProxy);
  app.use(securityHeaders({ hsts: parts.secureCookies }));
  app.use((req, res, next) => {
    const started = performance.now();
    res.on("finish", () => {
      const route = routeLabel(req);
      const seconds = (performance.now() - started) / 1000;
      metrics.httpRequest(req.method, route, res.statusCode, seconds);
      // Path pattern and status only: never the query string, headers or body.
      if (route.startsWith("/api")) {
        logger.info({ method: req.method, route, status: res.statusCode, ms: Math.round(seconds * 1000) }, "request");
      }
    });
    next();
  });

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  let readyCache: { at: number; error?: string } | undefined;
  app.get("/readyz", async (_req, res) => {
    // Cached briefly so a probe storm does not become a crypto-call storm.
    if (!readyCache || Date.now() - readyCache.at > 1000) {
      const problems: string[] = [];
      await deps.store.ping().catch(() => problems.push("store"));
      await deps.crypto.ping().catch(() => problems.push("crypto service"));
      readyCache = { at: Date.now(), error: problems.length ? `not reachable: ${problems.join(", ")}` : undefined };
    }
    if (readyCache.error) sendError(res, 503, "unavailable", readyCache.error);
    else res.json({ status: "ready" });
  });
  app.get("/metrics", async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  return app;
}

/** REST under /api: JSON bodies are parsed there only (Connect reads its own). */
function mountRest(app: express.Express, parts: AppParts): void {
  const json = express.json({ limit: parts.config.bodyLimitBytes, strict: true });
  // GETs carry no body; skipping the parser for them saves a stream read per retrieval.
  app.use("/api", (req, res, next) => (req.method === "GET" || req.method === "HEAD" ? next() : json(req, res, next)));
  app.use(
    restRouter(parts.ops, parts.validator, (req: Request, res: Response) =>
      makeCall(
        {
          address: req.ip ?? "",
          userAgent: req.get("user-agent") ?? "",
          origin: req.get("origin"),
          host: req.get("host"),
          unsafe: !["GET", "HEAD", "OPTIONS"].includes(req.method),
        },
        credentialsFrom(req.get("authorization"), req.get("cookie")),
        sessionCookie(parts.secureCookies || req.secure, (v) => res.append("Set-Cookie", v)),
      ),
    ),
  );
  app.use("/api", (_req, res) => sendError(res, 404, "not_found", "no such API route"));
}

/** The UI (when built), a JSON 404 for everything else, and the error mapping. */
function finishExpressApp(app: express.Express, webDir: string, logger: Logger): void {
  const ui = webUi(webDir);
  if (ui) app.use(ui);
  else logger.info({ webDir }, "no built web UI found; serving the API only");
  app.use((_req: Request, res: Response) => sendError(res, 404, "not_found", "not found"));
  app.use(errorMiddleware(logger));
}

function routeLabel(req: Request): string {
  if (req.route?.path) return String(req.route.path);
  if (req.path.startsWith("/cvwallet.")) return "connect";
  if (req.path.startsWith("/api/")) return "/api/unknown";
  return ["/healthz", "/readyz", "/metrics"].includes(req.path) ? req.path : "static";
}

function clientAddress(
  req: { headers: http.IncomingHttpHeaders; socket: { remoteAddress?: string } },
  trustProxy: boolean,
): string {
  const forwarded = req.headers["x-forwarded-for"];
  if (trustProxy && typeof forwarded === "string") return forwarded.split(",")[0]!.trim();
  return req.socket.remoteAddress ?? "";
}

function listen(server: http.Server | http2.Http2Server, address: string): Promise<void> {
  const i = address.lastIndexOf(":");
  const host = address.slice(0, i).replace(/^\[|\]$/g, "");
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(address.slice(i + 1)), host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function hostPort(server: http.Server | http2.Http2Server, asked: string): string {
  const port = (server.address() as AddressInfo).port;
  const host = asked.slice(0, asked.lastIndexOf(":"));
  return `${host}:${port}`;
}

function close(server: http.Server | http2.Http2Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Idle keep-alive connections would hold close() open; in-flight requests still finish.
    if ("closeIdleConnections" in server) server.closeIdleConnections();
  });
}
