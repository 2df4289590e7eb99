// Client generation as proto/README.md documents it: a TypeScript client (protoc-gen-es) and a
// Python client (grpcio-tools) generated from the committed image gen/image.binpb into a temp
// dir, each calling a running wallet (the real crypto and wallet processes, SQLite in a temp
// dir): ListProviders, then GetProviderKey with an access token made through REST.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROVIDER_IDS, providerCatalog } from "../src/catalog.ts";

/** The services' entry points in this checkout, relative to the repository root. */
const SERVICE_ENTRIES = {
  crypto: "services/crypto/src/main.ts",
  wallet: "services/wallet/src/main.ts",
} as const;

/** The Python toolchain README.md documents, pinned. */
const PYTHON_PACKAGES = ["grpcio==1.85.1", "grpcio-tools==1.85.1", "protobuf==7.36.2"];

const protoDir = join(import.meta.dirname, "..");
const repoRoot = join(protoDir, "..");
const image = join(protoDir, "gen", "image.binpb");
const require = createRequire(import.meta.url);
const bufBin = join(dirname(require.resolve("@bufbuild/buf/package.json")), "bin", "buf");
const protocGenEs = join(dirname(require.resolve("@bufbuild/protoc-gen-es/package.json")), "bin", "protoc-gen-es");
const tscBin = join(dirname(require.resolve("typescript/package.json")), "bin", "tsc");

const work = mkdtempSync(join(tmpdir(), "cvw-proto-clients-"));
const children: ChildProcess[] = [];
const logs = new Map<ChildProcess, string>();
let httpUrl = "";
let grpcAddr = "";
let token = "";
const storedKeys = {
  openai: `sk-proj-${randomBytes(18).toString("hex")}`,
  google: `AIza${randomBytes(16).toString("hex")}`,
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/** The environment without anything that would point a service at shared state (MongoDB, KMS, ./data). */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(WALLET_|CRYPTO_|MONGODB_|KMS_|AWS_)/.test(k)) env[k] = v;
  }
  return { ...env, LOG_LEVEL: "warn", ...extra };
}

function start(name: keyof typeof SERVICE_ENTRIES, env: Record<string, string>): ChildProcess {
  // Output to a file, not a pipe: the synchronous generator runs below would leave a pipe
  // unread, and a service blocked on a full pipe would stop answering.
  const log = join(work, `${name}.log`);
  const fd = openSync(log, "a");
  const child = spawn(process.execPath, [join(repoRoot, SERVICE_ENTRIES[name])], {
    cwd: work,
    env: cleanEnv(env),
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  logs.set(child, log);
  children.push(child);
  return child;
}

function logTail(child: ChildProcess): string {
  const log = logs.get(child);
  return log && existsSync(log) ? readFileSync(log, "utf8").slice(-8000) : "";
}

async function waitReady(url: string, children: ChildProcess[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const exited = children.find((c) => c.exitCode !== null);
    if (exited) throw new Error(`a service exited (${exited.exitCode}):\n${logTail(exited)}`);
    const ok = await fetch(url)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`not ready: ${url}\n${children.map(logTail).join("\n")}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function rest(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${httpUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${JSON.stringify(json)}`);
  return { res, json };
}

function run(cmd: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): string {
  const r = spawnSync(cmd, args, { ...options, encoding: "utf8", timeout: 300_000 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  const [cryptoPort, httpPort, grpcPort] = [await freePort(), await freePort(), await freePort()];
  const serviceToken = randomBytes(24).toString("hex");
  const crypto = start("crypto", {
    CRYPTO_GRPC_ADDR: `127.0.0.1:${cryptoPort}`,
    CRYPTO_DATA_DIR: join(work, "crypto"),
    CRYPTO_SERVICE_TOKEN: serviceToken,
  });
  httpUrl = `http://127.0.0.1:${httpPort}`;
  grpcAddr = `127.0.0.1:${grpcPort}`;
  const wallet = start("wallet", {
    WALLET_HTTP_ADDR: `127.0.0.1:${httpPort}`,
    WALLET_GRPC_ADDR: grpcAddr,
    WALLET_DATA_DIR: join(work, "wallet"),
    WALLET_VALIDATE_INTERVAL: "0",
    CRYPTO_GRPC_ADDR: `127.0.0.1:${cryptoPort}`,
    CRYPTO_SERVICE_TOKEN: serviceToken,
  });
  await waitReady(`${httpUrl}/readyz`, [crypto, wallet]);

  // An account, a token that may read and write keys, and an OpenAI and a Google key, through REST.
  const signup = await rest("/api/auth/signup", {
    email: "client-gen@example.com",
    password: randomBytes(12).toString("hex"),
  });
  const cookie = signup.res.headers.get("set-cookie")!.split(";")[0]!;
  const created = await rest(
    "/api/tokens",
    { name: "generated clients", scopes: ["keys:read", "keys:write"] },
    { cookie, origin: httpUrl },
  );
  token = created.json.secret as string;
  for (const [provider, key] of Object.entries(storedKeys)) {
    await rest("/api/keys", { provider, name: "work", key }, { authorization: `Bearer ${token}` });
  }
}, 90_000);

afterAll(async () => {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once("exit", () => resolve());
          c.kill("SIGTERM");
        }),
    ),
  );
  rmSync(work, { recursive: true, force: true });
});

describe("a client generated from gen/image.binpb", () => {
  it("in TypeScript (protoc-gen-es, Connect) type-checks and fetches the key", () => {
    const dir = join(work, "ts-client");
    mkdirSync(dir);
    // What README.md tells a tool author to write: a buf.gen.yaml with protoc-gen-es ...
    writeFileSync(
      join(dir, "buf.gen.yaml"),
      `version: v2\nplugins:\n  - local: ${protocGenEs}\n    out: gen\n    opt: [target=js+dts, import_extension=js]\n`,
    );
    // ... buf generate from the image, with buf/validate's code generated alongside.
    run(bufBin, ["generate", image, "--path", "cvwallet/wallet/v1", "--include-imports"], { cwd: dir });
    expect(existsSync(join(dir, "gen/cvwallet/wallet/v1/wallet_pb.js"))).toBe(true);
    expect(existsSync(join(dir, "gen/buf/validate/validate_pb.js"))).toBe(true);
    // The client program and its packages (@bufbuild/protobuf, @connectrpc/connect, -node).
    writeFileSync(join(dir, "client.ts"), readFileSync(join(protoDir, "examples/typescript/client.ts")));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2023",
          noEmit: true,
          types: ["node"],
          skipLibCheck: true,
        },
        include: ["client.ts", "gen"],
      }),
    );
    symlinkSync(join(repoRoot, "node_modules"), join(dir, "node_modules"), "dir");
    run(process.execPath, [tscBin, "-p", "tsconfig.json"], { cwd: dir });

    const out = run(process.execPath, ["client.ts", "openai"], {
      cwd: dir,
      env: { ...process.env, CVW_URL: httpUrl, CVW_TOKEN: token },
    });
    const got = JSON.parse(out) as { providers: string[]; key: string };
    expect(got.providers).toEqual([...PROVIDER_IDS]);
    expect(got.key).toBe(storedKeys.openai);
  }, 120_000);

  it("in Python (grpcio-tools, gRPC) fetches the key and reads the catalog", (ctx) => {
    const python = ["python3", "python"].find((p) => spawnSync(p, ["--version"]).status === 0);
    if (!python) {
      console.warn("[client-generation] SKIPPED the Python client: no python3 on PATH");
      ctx.skip();
      return;
    }
    // One virtualenv per set of pins, kept under the repository's .cache between runs.
    const pins = createHash("sha256").update(PYTHON_PACKAGES.join(" ")).digest("hex").slice(0, 12);
    const venv = join(repoRoot, ".cache", `proto-client-python-${pins}`);
    const py = join(venv, "bin", "python");
    if (!existsSync(join(venv, ".installed"))) {
      try {
        rmSync(venv, { recursive: true, force: true });
        run(python, ["-m", "venv", venv], { cwd: work });
        run(py, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", ...PYTHON_PACKAGES], { cwd: work });
        writeFileSync(join(venv, ".installed"), PYTHON_PACKAGES.join("\n"));
      } catch (error) {
        console.warn(
          `[client-generation] SKIPPED the Python client: installing ${PYTHON_PACKAGES.join(" ")} failed: ${error}`,
        );
        ctx.skip();
        return;
      }
    }
    console.log(`[client-generation] Python client with ${PYTHON_PACKAGES.join(" ")} (${venv})`);
    const dir = join(work, "py-client");
    mkdirSync(dir);
    // Every file of the package: wallet.proto imports each of them.
    const files = readdirSync(join(protoDir, "cvwallet/wallet/v1"))
      .filter((f) => f.endsWith(".proto"))
      .map((f) => `cvwallet/wallet/v1/${f}`);
    run(
      py,
      [
        "-m",
        "grpc_tools.protoc",
        `--descriptor_set_in=${image}`,
        "--python_out=.",
        "--pyi_out=.",
        "--grpc_python_out=.",
        ...files,
        "buf/validate/validate.proto",
      ],
      { cwd: dir },
    );
    writeFileSync(join(dir, "client.py"), readFileSync(join(protoDir, "examples/python/client.py")));
    const out = run(py, ["client.py", "google"], {
      cwd: dir,
      env: { ...process.env, CVW_GRPC_ADDR: grpcAddr, CVW_TOKEN: token },
    });
    const got = JSON.parse(out) as { providers: string[]; envVars: string[]; key: string };
    expect(got.providers).toEqual([...PROVIDER_IDS]);
    expect(got.envVars).toEqual(["GEMINI_API_KEY", "GOOGLE_API_KEY"]);
    expect(got.envVars).toEqual(providerCatalog.google.envVars);
    expect(got.key).toBe(storedKeys.google);
  }, 300_000);

  it("left no token or key in the services' logs", () => {
    const text = children.map(logTail).join("\n");
    for (const secret of [token, ...Object.values(storedKeys)]) expect(text.includes(secret)).toBe(false);
  });
});
