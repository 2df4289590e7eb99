// The images, built and run for real through podman (Debian's package, with runc, cgroupfs
// and host networking as this machine needs). Where no registry can be pulled from, the base
// image is made locally by deploy/podman/local-base.sh (Debian bookworm from debootstrap plus
// the Node of .nvmrc) under the official tag, so the Dockerfile builds unchanged.
// The smoke test: both containers start as uid 1000 with a read-only root filesystem and no
// capabilities; their HEALTHCHECKs pass; a user signs up, stores a key and fetches it with a
// token; the web UI is served; the re-wrap command runs inside the wallet container; SIGTERM
// stops both with exit code 0.
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@cv-wallet/common/grpc";
import { reportSkip } from "@cv-wallet/common/testing/skips";
import { CryptoService } from "@cv-wallet/proto/crypto/v1";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { checkGrpcHealth } from "../probes/grpc-health.ts";
import { repoRoot, which } from "../test/support/paths.ts";
import { freePort, serviceToken } from "../test/support/processes.ts";
import { userWithToken, WalletHttp } from "../test/support/wallet-http.ts";

const SUITE = "deploy image smoke (podman)";
const GLOBAL = ["--runtime", "runc", "--cgroup-manager=cgroupfs"];
const RUN = ["--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"];
const tag = process.env.CVW_IMAGE_TAG ?? "smoke";

function blocker(): string | undefined {
  if (!which("podman")) return "podman is not installed (Debian packages podman and runc)";
  if (!which("runc")) return "runc is not installed (Debian package runc)";
  if (process.getuid?.() !== 0) return "the local base image needs root (debootstrap)";
  const probe = spawnSync("podman", [...GLOBAL, "info"], { encoding: "utf8" });
  if (probe.status !== 0) return `podman does not work here: ${probe.stderr.split("\n")[0]}`;
  return undefined;
}

function podman(args: string[], options: { allowFail?: boolean } = {}): string {
  const r = spawnSync("podman", [...GLOBAL, ...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0 && !options.allowFail) {
    throw new Error(`podman ${args.slice(0, 3).join(" ")} failed (${r.status}):\n${(r.stderr ?? "").slice(-4000)}`);
  }
  return r.stdout;
}

const reason = blocker();
if (reason) reportSkip(SUITE, reason);

describe.skipIf(Boolean(reason))(SUITE, () => {
  const names = { crypto: `cvw-smoke-crypto-${process.pid}`, wallet: `cvw-smoke-wallet-${process.pid}` };
  const dir = mkdtempSync(join(tmpdir(), "cvw-smoke-"));
  const token = serviceToken();
  let cryptoAddr = "";
  let walletAddr = "";

  beforeAll(async () => {
    const base = execFileSync("bash", [join(repoRoot, "deploy/podman/local-base.sh")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    }).trim();
    expect(base).toMatch(/^docker\.io\/library\/node:\d+\.\d+\.\d+-bookworm-slim$/);
    const secret = process.env.NODE_EXTRA_CA_CERTS
      ? ["--secret", `id=npm_ca,src=${process.env.NODE_EXTRA_CA_CERTS}`]
      : [];
    for (const target of ["crypto", "wallet"] as const) {
      const started = Date.now();
      podman([
        "build",
        "--format",
        "docker",
        ...RUN.filter((a) => a !== "--network" && a !== "host"),
        "--network",
        "host",
        ...secret,
        "-f",
        join(repoRoot, "deploy/docker/Dockerfile"),
        "--target",
        target,
        "-t",
        `localhost/cv-wallet/${target}:${tag}`,
        repoRoot,
      ]);
      console.log(`[smoke] built cv-wallet/${target}:${tag} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  });

  afterAll(() => {
    for (const n of Object.values(names)) podman(["rm", "-f", n], { allowFail: true });
    rmSync(dir, { recursive: true, force: true });
  });

  test("images: uid 1000, NODE_ENV=production, exec-form entrypoint, a healthcheck, no dev dependencies", () => {
    for (const target of ["crypto", "wallet"]) {
      const [info] = JSON.parse(podman(["image", "inspect", `localhost/cv-wallet/${target}:${tag}`])) as {
        Config: { User: string; Env: string[]; Entrypoint: string[]; Healthcheck?: { Test: string[] } };
        Healthcheck?: { Test: string[] };
      }[];
      expect(info!.Config.User).toBe("1000:1000");
      expect(info!.Config.Env).toContain("NODE_ENV=production");
      expect(info!.Config.Entrypoint).toEqual(["node", `services/${target}/src/main.ts`]);
      // podman reports the HEALTHCHECK at the top level (docker under Config).
      const hc = info!.Healthcheck ?? info!.Config.Healthcheck;
      expect(hc?.Test.slice(0, 3)).toEqual([
        "CMD",
        "node",
        target === "crypto" ? "deploy/probes/grpc-health.ts" : "deploy/probes/http-health.ts",
      ]);
      // Production dependencies only: no test runner, no compiler, no fetched Node cache.
      const listing = podman([
        "run",
        "--rm",
        ...RUN,
        "--entrypoint",
        "sh",
        `localhost/cv-wallet/${target}:${tag}`,
        "-c",
        "ls node_modules; ls -a; ls services",
      ]);
      expect(listing).not.toMatch(/^(vitest|typescript|@biomejs|turbo)$/m);
      expect(listing).not.toMatch(/^\.cache$/m);
      expect(listing).toContain(target);
    }
  });

  test("both run hardened, pass their HEALTHCHECKs and serve the product", async () => {
    const data = join(dir, "data");
    execFileSync("mkdir", ["-p", join(data, "crypto"), join(data, "wallet")]);
    for (const d of [data, join(data, "crypto"), join(data, "wallet")]) chownSync(d, 1000, 1000);
    const hardening = ["--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"];
    cryptoAddr = `127.0.0.1:${await freePort()}`;
    podman([
      "run",
      "-d",
      "--name",
      names.crypto,
      ...RUN,
      ...hardening,
      "-v",
      `${join(data, "crypto")}:/var/lib/cv-wallet/crypto`,
      "-e",
      `CRYPTO_GRPC_ADDR=${cryptoAddr}`,
      "-e",
      `CRYPTO_SERVICE_TOKEN=${token}`,
      `localhost/cv-wallet/crypto:${tag}`,
    ]);
    await until(async () => (await checkGrpcHealth(cryptoAddr, { timeoutMs: 1000 })).serving, names.crypto);
    walletAddr = `127.0.0.1:${await freePort()}`;
    podman([
      "run",
      "-d",
      "--name",
      names.wallet,
      ...RUN,
      ...hardening,
      "-v",
      `${join(data, "wallet")}:/var/lib/cv-wallet/wallet`,
      "-e",
      `WALLET_HTTP_ADDR=${walletAddr}`,
      "-e",
      `CRYPTO_GRPC_ADDR=${cryptoAddr}`,
      "-e",
      `CRYPTO_SERVICE_TOKEN=${token}`,
      "-e",
      "WALLET_VALIDATE_INTERVAL=off",
      `localhost/cv-wallet/wallet:${tag}`,
    ]);
    await until(
      async () => (await fetch(`http://${walletAddr}/readyz`).catch(() => undefined))?.ok === true,
      names.wallet,
    );

    // The images' own HEALTHCHECK commands, run by podman inside the containers.
    for (const n of Object.values(names)) {
      const hc = spawnSync("podman", [...GLOBAL, "healthcheck", "run", n], { encoding: "utf8" });
      expect(hc.status, `${n}: ${hc.stdout}${hc.stderr}`).toBe(0);
    }
    // Non-root inside.
    expect(podman(["exec", names.crypto, "id", "-u"]).trim()).toBe("1000");

    // The product: sign up, store a key, fetch it with a token as cv-git does; the web UI.
    const http = new WalletHttp(`http://${walletAddr}`);
    const user = await userWithToken(http, "smoke@example.com");
    const secret = `sk-proj-smoke-${"s".repeat(24)}`;
    const created = await http.call("POST", "/api/keys", {
      bearer: user.token,
      body: { provider: "openai", name: "main", key: secret, isDefault: true },
    });
    expect(created.status).toBe(201);
    const fetched = await http.call<{ key: string }>("GET", "/api/keys/provider/openai", { bearer: user.token });
    expect(fetched.json.key).toBe(secret);
    const page = await fetch(`http://${walletAddr}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);

    // The operator's re-wrap command, shipped in the wallet image, run inside the container
    // after a tenant key rotation: the record moves to version 2 and still decrypts.
    const channel = new grpc.Client(cryptoAddr, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    try {
      await createClient(CryptoService, channel).rotateKey(
        { keyName: `user/${user.userId}` },
        { metadata, timeoutMs: 10_000 },
      );
    } finally {
      channel.close();
    }
    const out = podman([
      "exec",
      names.wallet,
      "node",
      "deploy/tools/rewrap.ts",
      "records",
      "--state",
      "/tmp/rewrap.json",
    ]);
    expect(JSON.parse(out)).toMatchObject({ scanned: 1, rewrapped: 1, failed: [] });
    const again = await http.call<{ key: string }>("GET", "/api/keys/provider/openai", { bearer: user.token });
    expect(again.json.key).toBe(secret);
  }, 300_000);

  test("SIGTERM reaches node: both stop gracefully with exit code 0", () => {
    for (const n of [names.wallet, names.crypto]) {
      podman(["stop", "-t", "25", n]);
      const code = podman(["inspect", "--format", "{{.State.ExitCode}}", n]).trim();
      expect(code, n).toBe("0");
    }
  });
});

async function until(ready: () => Promise<boolean>, name: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) {
      const logs = podman(["logs", name], { allowFail: true });
      throw new Error(`${name} not ready in ${timeoutMs} ms:\n${logs.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
