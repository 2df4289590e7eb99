// grpc.health.v1 for the wallet's HTTP/2 listener (`grpcurl … grpc.health.v1.Health/Check`,
// Kubernetes gRPC probes). The service comes from the committed descriptor image; its status
// is the wallet's readiness (the store and the crypto service answer), as /readyz reports it.
import type { DescService, FileRegistry } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { serviceFrom } from "./reflection.ts";

export const HEALTH_SERVICE = "grpc.health.v1.Health";
// grpc.health.v1.HealthCheckResponse.ServingStatus
const SERVING = 1;
const NOT_SERVING = 2;
const SERVICE_UNKNOWN = 3;
/** How often a Watch stream re-reads readiness (itself cached for a second). */
const WATCH_INTERVAL_MS = 5_000;

export interface HealthOptions {
  /** Service names answered besides "" (the server as a whole). */
  services: string[];
  /** True when the wallet can serve. */
  ready(): Promise<boolean>;
}

export function healthRoutes(registry: FileRegistry, options: HealthOptions): (router: ConnectRouter) => void {
  const Health: DescService = serviceFrom(registry, HEALTH_SERVICE);
  const known = new Set(["", ...options.services]);
  const status = async (service: string): Promise<number> => {
    if (!known.has(service)) throw new ConnectError(`unknown service ${service}`, Code.NotFound);
    return (await options.ready()) ? SERVING : NOT_SERVING;
  };
  const impl = {
    async check(req: { service: string }) {
      return { status: await status(req.service) };
    },
    async *watch(req: { service: string }, ctx: HandlerContext) {
      // An unknown service is a status on a watch, not an error (the health protocol says so).
      if (!known.has(req.service)) {
        yield { status: SERVICE_UNKNOWN };
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
        return;
      }
      let last = -1;
      while (!ctx.signal.aborted) {
        const now = await status(req.service);
        if (now !== last) yield { status: now };
        last = now;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, WATCH_INTERVAL_MS);
          ctx.signal.addEventListener(
            "abort",
            () => {
              clearTimeout(timer);
              resolve();
            },
            { once: true },
          );
        });
      }
    },
  };
  return (router) => router.service(Health, impl as unknown as ServiceImpl<DescService>);
}
