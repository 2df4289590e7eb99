// Puts a wallet handler on the network: the HTTP/1.1 listener (REST, Connect, gRPC-Web, UI)
// and, when an address is given, the HTTP/2 cleartext listener for the gRPC protocol.
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { WalletHandler } from "./app.ts";

export interface ServeOptions {
  /** host:port; port 0 picks a free one. */
  httpAddr: string;
  grpcAddr?: string | undefined;
  /** host:port of the metrics listener; unset means none. */
  metricsAddr?: string | undefined;
  /** How long a client has to send a whole request (headers and body); default REQUEST_TIMEOUT_MS. */
  requestTimeoutMs?: number | undefined;
}

/**
 * The default of WALLET_REQUEST_TIMEOUT (config.ts). A request's headers and body must have arrived within this time, or the server answers 408
 * and closes the connection. Node's defaults (requestTimeout 300 s, headersTimeout 60 s, checked
 * every 30 s) let a client that starts an upload and stops sending hold a socket for minutes:
 * measured on loopback, a chunked Connect or REST POST stalled after its first chunk was closed
 * by the server (408) after 330 s. With 15 s checked every second: after 15.6–16.0 s. The largest
 * body the wallet accepts (WALLET_BODY_LIMIT_BYTES, at most 10 MiB, 64 KiB by default) fits in
 * that time on any usable link; only receiving the request is bounded, never the time a
 * handler takes to answer, and the wallet has no streaming RPC whose request could last longer.
 */
export const REQUEST_TIMEOUT_MS = 15_000;

export interface Serving {
  /** http://host:port of REST, Connect and the UI. */
  url: string;
  /** host:port of the gRPC (HTTP/2) listener, when grpcAddr was set. */
  grpcAddress?: string | undefined;
  /** http://host:port of the metrics listener (GET /metrics), when metricsAddr was set. */
  metricsUrl?: string | undefined;
  /** Stops accepting and resolves once in-flight requests have finished. */
  close(): Promise<void>;
}

export async function serve(handler: WalletHandler, options: ServeOptions): Promise<Serving> {
  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const server = http.createServer(
    {
      keepAliveTimeout: 65_000,
      requestTimeout,
      // Receiving the headers is part of the request: bounded by the same time (Node's default
      // would be the smaller of 60 s and requestTimeout).
      headersTimeout: requestTimeout,
      // How often Node looks for requests past their time (default 30 s, which would add up to
      // half a minute to the bound).
      connectionsCheckingInterval: 1_000,
    },
    handler,
  );
  await listen(server, options.httpAddr);
  let grpcServer: http2.Http2Server | undefined;
  let metricsServer: http.Server | undefined;
  try {
    if (options.grpcAddr) {
      grpcServer = http2.createServer(handler.grpc);
      await listen(grpcServer, options.grpcAddr);
    }
    if (options.metricsAddr) {
      // Metrics describe traffic and errors: kept off the public port, for the scraper only.
      metricsServer = http.createServer(handler.metrics);
      await listen(metricsServer, options.metricsAddr);
    }
  } catch (error) {
    await Promise.all([close(server), grpcServer ? close(grpcServer) : undefined]);
    throw error;
  }
  return {
    url: `http://${hostPort(server, options.httpAddr)}`,
    grpcAddress: grpcServer && options.grpcAddr ? hostPort(grpcServer, options.grpcAddr) : undefined,
    metricsUrl:
      metricsServer && options.metricsAddr ? `http://${hostPort(metricsServer, options.metricsAddr)}` : undefined,
    close: async () => {
      await Promise.all([
        close(server),
        grpcServer ? close(grpcServer) : undefined,
        metricsServer ? close(metricsServer) : undefined,
      ]);
    },
  };
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
