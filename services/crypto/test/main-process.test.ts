// `node src/main.ts` as operators run it: configuration errors, listening, SIGTERM. Two
// processes over one data directory race rotations as replicas sharing one volume do. A
// SIGKILL under load must not lose encryption counts (the nonce budget).
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { DatabaseSync } from "node:sqlite";
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

  it("never under-counts the nonce budget: SIGKILL under an Encrypt load leaves stored counts ≥ ciphertexts made", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cvw-crypto-kill-"));
    const token = randomBytes(32).toString("base64url");
    const env = { CRYPTO_DATA_DIR: dir, CRYPTO_SERVICE_TOKEN: token, LOG_LEVEL: "warn" };
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    let acknowledged = 0;
    try {
      for (let round = 0; round < 3; round++) {
        const proc = await run({ ...env, LOG_LEVEL: "info" });
        const channel = new grpc.Client(proc.address, grpc.credentials.createInsecure());
        const client = createClient(CryptoService, channel);
        let killed = false;
        let thisRound = 0;
        // 16 callers encrypt as fast as they can; the process is killed mid-stream, after a
        // number of answers that is not a multiple of any reservation block.
        const target = 1_337 + round * 211;
        const loops = Array.from({ length: 16 }, async () => {
          while (!killed) {
            try {
              await client.encrypt(
                { keyName: "user/kill", plaintext: utf8("sk-load"), context: utf8("r/k") },
                { metadata, timeoutMs: 10_000 },
              );
            } catch {
              return; // the process is gone: this one was not acknowledged
            }
            acknowledged++;
            if (++thisRound >= target && !killed) {
              killed = true;
              proc.child.kill("SIGKILL");
            }
          }
        });
        await Promise.all(loops);
        await proc.exited;
        channel.close();
        const db = new DatabaseSync(join(dir, "crypto.db"), { readOnly: true });
        const { total } = db
          .prepare("SELECT COALESCE(SUM(encryption_count), 0) AS total FROM crypto_key_versions WHERE name = ?")
          .get("user/kill") as { total: number };
        db.close();
        expect(total, `round ${round}`).toBeGreaterThanOrEqual(acknowledged);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000); // three process starts and a few thousand calls, on a shared machine
});
