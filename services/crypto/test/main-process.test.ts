// `node src/main.ts` as operators run it: configuration errors, listening, SIGTERM. Two
// processes over one data directory race rotations as replicas sharing one volume do.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createClient } from "@cv-wallet/common/grpc";
import { CryptoService } from "@cv-wallet/proto/crypto/v1";
import * as grpc from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { utf8 } from "./support/harness.ts";

const MAIN = join(import.meta.dirname, "../src/main.ts");
const dataDir = mkdtempSync(join(tmpdir(), "cvw-crypto-main-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

interface Proc {
  child: ChildProcess;
  address: string;
  lines: string[];
  exited: Promise<number | null>;
}

function run(env: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? "", CRYPTO_GRPC_ADDR: "127.0.0.1:0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return new Promise((resolve, reject) => {
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on("line", (line) => {
        lines.push(line);
        if (line.includes('"crypto service ready"')) {
          const listening = lines
            .map((l) => JSON.parse(l) as { msg?: string; address?: string })
            .find((l) => l.msg === "crypto service listening");
          resolve({ child, address: listening!.address!, lines, exited });
        }
      });
    }
    void exited.then((code) => reject(Object.assign(new Error(`exited ${code}`), { lines, code })));
  });
}

describe("node src/main.ts", () => {
  it("refuses to start without credentials, naming the variables", async () => {
    const error = (await run({ CRYPTO_DATA_DIR: dataDir }).catch((e: unknown) => e)) as {
      code: number;
      lines: string[];
    };
    expect(error.code).toBe(2);
    expect(error.lines.join("\n")).toMatch(/CRYPTO_SERVICE_TOKEN: .*CRYPTO_SERVICE_TOKEN_FILE/);
  });

  it("serves with a token file, creates a 0600 master key, two processes share one store, SIGTERM stops cleanly", async () => {
    const token = randomBytes(32).toString("base64url");
    const tokenFile = join(dataDir, "service-token");
    writeFileSync(tokenFile, token, { mode: 0o600 });
    const env = { CRYPTO_DATA_DIR: dataDir, CRYPTO_SERVICE_TOKEN_FILE: tokenFile, LOG_LEVEL: "info" };
    const [one, two] = await Promise.all([run(env), run(env)]);
    expect(statSync(join(dataDir, "master.key")).mode & 0o777).toBe(0o600);

    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    const clients = [one!, two!].map((p) => {
      const channel = new grpc.Client(p.address, grpc.credentials.createInsecure());
      return { channel, client: createClient(CryptoService, channel) };
    });
    try {
      const [c1, c2] = clients.map((c) => c.client);
      const sealed = await c1!.encrypt(
        { keyName: "user/proc", plaintext: utf8("sk-process-secret"), context: utf8("r/k") },
        { metadata },
      );
      const opened = await c2!.decrypt(
        { keyName: "user/proc", ciphertext: sealed.ciphertext, context: utf8("r/k") },
        { metadata },
      );
      expect(Buffer.from(opened.plaintext).toString()).toBe("sk-process-secret");
      await Promise.all(
        Array.from({ length: 6 }, (_, i) => (i % 2 ? c1! : c2!).rotateKey({ keyName: "user/proc" }, { metadata })),
      );
      const info = await c1!.getKeyInfo({ keyName: "user/proc" }, { metadata });
      expect(info.key?.versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    } finally {
      for (const c of clients) c.channel.close();
    }

    one!.child.kill("SIGTERM");
    two!.child.kill("SIGTERM");
    expect(await one!.exited).toBe(0);
    expect(await two!.exited).toBe(0);
    const output = [...one!.lines, ...two!.lines].join("\n");
    expect(output).toContain('"crypto service stopped"');
    expect(output).not.toContain(token);
    expect(output).not.toContain("sk-process-secret");
  });
});
