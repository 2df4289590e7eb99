// main.ts as a process: configuration errors name the variable (never its value) and stop
// it; a configured MongoDB that cannot be reached stops it instead of a silent fallback;
// with the real crypto service it becomes ready and stops cleanly on SIGTERM.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { captureLogs } from "@cv-wallet/common/testing/logs";
import { startCryptoServer } from "@cv-wallet/crypto";
import { afterAll, describe, expect, it } from "vitest";

const walletDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const dir = mkdtempSync(join(tmpdir(), "wallet-main-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Started {
  /** Resolves with the exit code once the process ends. */
  exited: Promise<number | null>;
  /** Resolves once `ready` matches the output so far. */
  ready: Promise<void>;
  output(): string;
  kill(signal: NodeJS.Signals): void;
}

function start(env: Record<string, string>, ready: (output: string) => boolean = () => false): Started {
  const child = spawn(process.execPath, ["src/main.ts"], {
    cwd: walletDir,
    env: { PATH: process.env.PATH ?? "", WALLET_VALIDATE_INTERVAL: "off", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let markReady: () => void;
  const readyPromise = new Promise<void>((r) => {
    markReady = r;
  });
  const onData = (d: Buffer) => {
    output += d.toString();
    if (ready(output)) markReady();
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  return {
    exited: new Promise((resolve) => child.on("exit", (code) => resolve(code))),
    ready: readyPromise,
    output: () => output,
    kill: (signal) => child.kill(signal),
  };
}

async function run(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const s = start(env);
  const code = await s.exited;
  return { code, output: s.output() };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe("main.ts", () => {
  it("stops with the variable's name, not its value, on a bad setting", async () => {
    const r = await run({ WALLET_HTTP_ADDR: "nonsense-value", CRYPTO_SERVICE_TOKEN: "x".repeat(20) });
    expect(r.code).toBe(2);
    expect(r.output).toContain("WALLET_HTTP_ADDR");
    expect(r.output).not.toContain("nonsense-value");
    const noToken = await run({ WALLET_HTTP_ADDR: "127.0.0.1:0" });
    expect(noToken.code).toBe(2);
    expect(noToken.output).toContain("CRYPTO_SERVICE_TOKEN");
  });

  it("refuses to start when MONGODB_URI names a MongoDB it cannot reach", async () => {
    const r = await run({
      WALLET_HTTP_ADDR: "127.0.0.1:0",
      CRYPTO_SERVICE_TOKEN: "x".repeat(20),
      MONGODB_URI: "mongodb://127.0.0.1:1/wallet?serverSelectionTimeoutMS=500",
      WALLET_DATA_DIR: join(dir, "never"),
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain("MONGODB_URI: cannot reach MongoDB");
  });

  it("serves with the real crypto service, is ready, and stops cleanly on SIGTERM", async () => {
    const token = randomBytes(24).toString("base64url");
    const crypto = await startCryptoServer({
      address: "127.0.0.1:0",
      dataDir: join(dir, "crypto"),
      serviceToken: token,
      logger: captureLogs().logger,
    });
    try {
      const port = await freePort();
      const wallet = start(
        {
          WALLET_HTTP_ADDR: `127.0.0.1:${port}`,
          WALLET_DATA_DIR: join(dir, "wallet"),
          CRYPTO_GRPC_ADDR: crypto.address,
          CRYPTO_SERVICE_TOKEN: token,
        },
        (out) => out.includes('"msg":"wallet ready"'),
      );
      await wallet.ready;
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      wallet.kill("SIGTERM");
      expect(await wallet.exited).toBe(0);
      expect(wallet.output()).toContain('"msg":"wallet stopped"');
      expect(wallet.output()).not.toContain(token);
    } finally {
      await crypto.stop();
    }
  });
});
