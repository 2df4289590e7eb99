// Starts the real services as child processes (`node services/<svc>/src/main.ts`), the way
// an image or a pod runs them, on loopback ports picked free, and stops them with SIGTERM.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { join } from "node:path";
import { checkGrpcHealth, type GrpcHealthOptions } from "../../probes/grpc-health.ts";
import { checkHttpHealth } from "../../probes/http-health.ts";
import { repoRoot } from "./paths.ts";

export interface Service {
  name: string;
  address: string;
  child: ChildProcess;
  /** stdout + stderr so far (JSON log lines), for assertions and failure messages. */
  output(): string;
  stop(): Promise<number | null>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export const serviceToken = () => randomBytes(32).toString("base64url");

/** The environment a child gets: ours minus anything that would point it elsewhere. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(CRYPTO_|WALLET_|MONGODB_URI$|KMS_KEY_ID$|AWS_ENDPOINT_URL)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, LOG_LEVEL: "warn", NODE_ENV: "production", ...extra };
}

function launch(name: string, script: string, env: Record<string, string>, address: string): Service {
  const child = spawn(process.execPath, [join(repoRoot, script)], {
    cwd: repoRoot,
    env: childEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr!.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    name,
    address,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

async function waitFor(service: Service, ready: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (service.child.exitCode !== null) {
      throw new Error(`${service.name} exited with ${service.child.exitCode}:\n${service.output()}`);
    }
    if (await ready()) return;
    if (Date.now() > deadline) throw new Error(`${service.name} not ready after ${timeoutMs} ms:\n${service.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `options.address` binds somewhere else than a free loopback port (e.g. 127.0.0.2:<port>);
 * `options.tls` is what the readiness check presents when the service requires TLS.
 */
export async function startCrypto(
  name: string,
  env: Record<string, string>,
  options: { address?: string; tls?: GrpcHealthOptions["tls"] } = {},
): Promise<Service> {
  const address = options.address ?? `127.0.0.1:${await freePort()}`;
  const service = launch(name, "services/crypto/src/main.ts", { CRYPTO_GRPC_ADDR: address, ...env }, address);
  await waitFor(service, async () => (await checkGrpcHealth(address, { timeoutMs: 1000, tls: options.tls })).serving);
  return service;
}

export async function startWallet(name: string, env: Record<string, string>): Promise<Service> {
  const address = `127.0.0.1:${await freePort()}`;
  const service = launch(
    name,
    "services/wallet/src/main.ts",
    { WALLET_HTTP_ADDR: address, WALLET_VALIDATE_INTERVAL: "off", ...env },
    address,
  );
  await waitFor(service, async () => (await checkHttpHealth(address, "/readyz", 1000)).ok);
  return service;
}
