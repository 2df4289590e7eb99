// The wallet image's HEALTHCHECK: GET /healthz on the wallet's own address and exit 0 only
// on a 2xx. The slim Node image has no curl; Node's fetch needs nothing installed.
//
//   node deploy/probes/http-health.ts [host:port] [--path /healthz] [--timeout-ms N]
//
// The address defaults to WALLET_HTTP_ADDR (a wildcard host becomes 127.0.0.1), then
// 127.0.0.1:8080.
import { parseArgs } from "node:util";
import { probeAddress } from "./grpc-health.ts";

export async function checkHttpHealth(
  address: string,
  path = "/healthz",
  timeoutMs = 3000,
): Promise<{ ok: boolean; status: string }> {
  try {
    const response = await fetch(`http://${probeAddress(address)}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return { ok: response.ok, status: `HTTP ${response.status}` };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return { ok: false, status: cause ?? (error instanceof Error ? error.message : String(error)) };
  }
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { path: { type: "string", default: "/healthz" }, "timeout-ms": { type: "string", default: "3000" } },
  });
  const address = positionals[0] ?? process.env.WALLET_HTTP_ADDR ?? "127.0.0.1:8080";
  const result = await checkHttpHealth(address, values.path, Number(values["timeout-ms"]));
  console.log(`http health ${probeAddress(address)}${values.path}: ${result.status}`);
  process.exit(result.ok ? 0 : 1);
}
