// The documentation's examples, run as written against the real services (processes):
//  - every `grpcurl` command in services/crypto/README.md and deploy/RUNBOOK.md against a
//    running crypto service, `describe` included (its methods must be the ones the README's
//    method table lists);
//  - every `curl` command in README.md and services/wallet/README.md against a running wallet
//    (whose OpenAI key check goes to a stand-in on loopback);
//  - the runbook's settings table: each variable is one its service reads.
// Substituted, as a reader would: the address ($A, $W, 127.0.0.1:8080), the tokens ($TOKEN,
// $T, cvw_…) and `<placeholders>` the documents use for ids made earlier (<keyId>, <tokenId>,
// <userId>, <recordId>, <ciphertext>, <base64 of …>). Nothing else: a `…` inside a command is
// sent as written, so an example that cannot work as shown fails here.
// Each command must succeed (grpcurl exit 0; curl HTTP 2xx) and print what the document says it
// prints. Blocks run top to bottom, deletions last (a block lists operations; it is no script),
// and the sign-in precondition is restored after the sign-out example.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { reportServer } from "@cv-wallet/common/testing/servers";
import { reportSkip } from "@cv-wallet/common/testing/skips";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type DocCommand, matchesExpected, readDocBlocks, squeeze } from "./support/docs.ts";
import { repoRoot, which } from "./support/paths.ts";
import { freePort, type Service, serviceToken, startCrypto, startWallet } from "./support/processes.ts";
import { userWithToken, WalletHttp } from "./support/wallet-http.ts";

const grpcurl = process.env.CVW_GRPCURL ?? which("grpcurl");
const haveCurl = Boolean(which("curl"));

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The body of the last curl / grpcurl the command ran (also when piped into something else). */
  body: string;
  /** HTTP statuses of the curls it ran. */
  http: number[];
}

/** Runs one documented command with bash, `curl` and `grpcurl` wrapped to record what they returned. */
async function runShell(command: string, env: Record<string, string>, cwd: string): Promise<Ran> {
  const capture = join(cwd, ".body");
  const statuses = join(cwd, ".http");
  writeFileSync(capture, "");
  writeFileSync(statuses, "");
  const prelude = [
    "set -o pipefail",
    // -sS: no progress meter, errors still shown; the status goes to a file, the body to stdout and the capture.
    `curl() { command curl -sS -w '%{stderr}\\n@@http %{http_code}\\n' "$@" | tee "${capture}"; }`,
    grpcurl ? `grpcurl() { "${grpcurl}" "$@" | tee "${capture}"; }` : "",
  ].join("\n");
  // Asynchronous: the OpenAI stand-in answers from this process while the command runs.
  const child = spawn("bash", ["-c", `${prelude}\n${command}`], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const status = await new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  clearTimeout(timer);
  const http = [...stderr.matchAll(/@@http (\d+)/g)].map((m) => Number(m[1]));
  return {
    status,
    stdout,
    stderr: stderr.replace(/\n?@@http \d+\n?/g, ""),
    body: readFileSync(capture, "utf8"),
    http,
  };
}

/** Compact JSON when it is JSON (grpcurl pretty-prints), else the text trimmed. */
function normalized(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return text.trim();
  }
}

interface Session {
  /** Variables the documents assume ($A, $TOKEN, $W, $T) and any a block assigns. */
  env: Record<string, string>;
  /** `<placeholder>` → value. */
  values: Record<string, string>;
  cwd: string;
  /** Host names the documents show for a service the test stands in for (stand-in host → documented host). */
  hosts: [string, string][];
}

function substitute(text: string, session: Session, doc: string, line: number): string {
  let out = text;
  // Innermost placeholders first, so `<base64 of <recordId>/key>` works.
  for (let guard = 0; guard < 5; guard++) {
    const before = out;
    out = out.replace(/<base64 of ([^<>]+)>/g, (_, inner: string) => Buffer.from(inner).toString("base64"));
    out = out.replace(/<([A-Za-z][A-Za-z0-9]*)>/g, (whole, name: string) => {
      const value = session.values[name];
      if (value === undefined) throw new Error(`${doc}:${line}: no value for the placeholder ${whole}`);
      return value;
    });
    if (out === before) break;
  }
  return out;
}

/** Ids the responses carried, kept for later `<placeholders>`. */
function remember(body: string, session: Session): void {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return;
  }
  if (typeof json !== "object" || json === null) return;
  const o = json as Record<string, { id?: unknown } | unknown>;
  for (const [field, placeholder] of [
    ["key", "keyId"],
    ["token", "tokenId"],
    ["user", "userId"],
  ] as const) {
    const v = o[field];
    if (typeof v === "object" && v !== null && typeof (v as { id?: unknown }).id === "string") {
      session.values[placeholder] = (v as { id: string }).id;
    }
  }
  if (typeof o.ciphertext === "string") session.values.ciphertext = o.ciphertext;
  // A session list: <sessionId> names one that is not the current one, as a reader would pick.
  if (Array.isArray(o.sessions)) {
    const other = (o.sessions as { id?: unknown; current?: unknown }[]).find((x) => !x.current);
    if (typeof other?.id === "string") session.values.sessionId = other.id;
  }
}

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;

/** Runs a block's commands of one tool; returns a failure message per wrong example. */
async function runBlock(
  doc: string,
  commands: DocCommand[],
  tool: "curl" | "grpcurl",
  session: Session,
  substituted: Set<string>,
  checkOutput?: (command: DocCommand, ran: Ran) => string | undefined,
): Promise<string[]> {
  const failures: string[] = [];
  const isTool = (c: DocCommand) => new RegExp(`^${tool}\\s`).test(c.text);
  const deleting = (c: DocCommand) => /\s-X\s*DELETE\b/.test(c.text) || /\/DestroyKey\b/.test(c.text);
  const ordered = [...commands.filter((c) => !deleting(c)), ...commands.filter(deleting)];
  // The examples assume a signed-in cookie jar: after the sign-out example the block's own
  // sign-in (or sign-up) command runs again, quietly.
  let signIn: string | undefined;
  for (const command of ordered) {
    const assignment = ASSIGNMENT.exec(command.text);
    if (!assignment && !isTool(command)) {
      console.log(`[docs] ${doc}:${command.line}: not a ${tool} command, not run: ${command.text.slice(0, 80)}`);
      continue;
    }
    if (assignment && substituted.has(assignment[1]!)) continue;
    let text: string;
    try {
      text = substitute(command.text, session, doc, command.line);
    } catch (error) {
      failures.push((error as Error).message);
      continue;
    }
    // An assignment runs and keeps its value for the commands after it.
    const script = assignment ? `${text}\nprintf '%s' "$${assignment[1]}"` : text;
    const ran = await runShell(script, session.env, session.cwd);
    const where = `${doc}:${command.line}: ${command.text}`;
    const httpFailed = ran.http.find((s) => s < 200 || s > 299);
    if (ran.status !== 0 || httpFailed !== undefined) {
      failures.push(
        `${where}\n  failed (exit ${ran.status}${httpFailed !== undefined ? `, HTTP ${httpFailed}` : ""}): ${(ran.body || ran.stderr).trim().slice(0, 400)}`,
      );
      continue;
    }
    if (assignment) session.env[assignment[1]!] = ran.stdout;
    if (/-c jar\b.*\/api\/auth\/(login|signup)\b/.test(text))
      signIn = text.replace("/api/auth/signup", "/api/auth/login");
    if (/\/api\/auth\/logout\b/.test(text) && signIn) await runShell(signIn, session.env, session.cwd);
    remember(ran.body, session);
    let shown = normalized(ran.body);
    for (const [standIn, documented] of session.hosts) shown = shown.replaceAll(standIn, documented);
    const extra = checkOutput?.(command, ran);
    if (extra) failures.push(`${where}\n  ${extra}`);
    const expected = command.expected;
    if (expected?.kind === "text" && !matchesExpected(expected.text, shown)) {
      failures.push(
        `${where}\n  the document says it prints ${squeeze(expected.text)}\n  it printed ${shown.slice(0, 600)}`,
      );
    }
    if (expected?.kind === "metrics") {
      const missing = expected.names.filter((n) => !ran.body.includes(n));
      if (missing.length > 0)
        failures.push(`${where}\n  the document names metrics it does not serve: ${missing.join(", ")}`);
    }
    console.log(`[docs] ${doc}:${command.line}: ran as written${expected ? ", output as documented" : ""}`);
  }
  return failures;
}

/** Method names in the README's method table (`Encrypt` / `EncryptBatch` …, first column). */
function documentedMethods(readme: string): Set<string> {
  const names = new Set<string>();
  for (const line of readFileSync(readme, "utf8").split("\n")) {
    const first = /^\|\s*(`[A-Z][A-Za-z]+`(?:\s*\/\s*`[A-Z][A-Za-z]+`)*)[^|]*\|/.exec(line);
    if (first) for (const m of first[1]!.matchAll(/`([A-Z][A-Za-z]+)`/g)) names.add(m[1]!);
  }
  return names;
}

const cryptoReadme = join(repoRoot, "services/crypto/README.md");
const runbook = join(repoRoot, "deploy/RUNBOOK.md");

describe("documentation: grpcurl examples against a running crypto service", () => {
  const reason = grpcurl
    ? undefined
    : (process.env.CVW_GRPCURL_SKIP ?? "grpcurl is not installed (scripts/test-servers.sh up installs it)");
  if (reason) reportSkip("deploy documentation test (grpcurl examples)", reason);
  const dir = mkdtempSync(join(tmpdir(), "cvw-docs-grpc-"));
  const token = serviceToken();
  let crypto: Service | undefined;

  beforeAll(async () => {
    if (reason) return;
    crypto = await startCrypto("crypto", { CRYPTO_DATA_DIR: join(dir, "data"), CRYPTO_SERVICE_TOKEN: token });
    // `go install` leaves grpcurl's -version unset; the module version is in the binary's build info.
    const built = spawnSync("go", ["version", "-m", grpcurl!], { encoding: "utf8" });
    const version = /^\s+mod\s+\S+\s+(v\S+)/m.exec(built.stdout ?? "")?.[1] ?? "version unknown";
    reportServer(
      "deploy documentation test (grpcurl examples)",
      `grpcurl ${version} at ${grpcurl} against crypto at ${crypto.address}`,
    );
  });
  afterAll(async () => {
    await crypto?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const session = (): Session => ({
    env: { A: crypto!.address, TOKEN: token },
    values: {},
    cwd: dir,
    hosts: [],
  });

  const describeCheck = (command: DocCommand, ran: Ran): string | undefined => {
    if (!/\sdescribe\s+cvwallet\.crypto\.v1\.CryptoService\b/.test(command.text)) return undefined;
    const served = new Set([...ran.stdout.matchAll(/^\s*rpc (\w+)\s*\(/gm)].map((m) => m[1]!));
    const documented = documentedMethods(cryptoReadme);
    const undocumented = [...served].filter((m) => !documented.has(m));
    const unserved = [...documented].filter((m) => !served.has(m));
    if (served.size === 0) return `describe printed no rpc: ${ran.stdout.slice(0, 200)}`;
    if (undocumented.length || unserved.length) {
      return `describe and services/crypto/README.md's method table disagree: served but not documented ${undocumented.join(", ") || "none"}; documented but not served ${unserved.join(", ") || "none"}`;
    }
    return undefined;
  };

  for (const [name, path] of [
    ["services/crypto/README.md", cryptoReadme],
    ["deploy/RUNBOOK.md", runbook],
  ] as const) {
    test.skipIf(Boolean(reason))(
      `${name}: every grpcurl command runs as written`,
      async () => {
        const s = session();
        if (path === runbook) {
          // The runbook addresses a deployment in use: a tenant with one record already sealed.
          s.values.userId = "6b08c0ffee0123456789abcd";
          s.values.recordId = "6b08c0ffee0123456789abce";
          const seal = await runShell(
            `grpcurl -plaintext -H "authorization: Bearer $TOKEN" -d '${JSON.stringify({
              key_name: `user/${s.values.userId}`,
              plaintext: Buffer.from("sk-runbook").toString("base64"),
              context: Buffer.from(`${s.values.recordId}/key`).toString("base64"),
            })}' $A cvwallet.crypto.v1.CryptoService/Encrypt`,
            s.env,
            dir,
          );
          expect(seal.status, seal.stderr).toBe(0);
          remember(seal.body, s);
        }
        const blocks = readDocBlocks(path).filter((b) => b.commands.some((c) => /^grpcurl\s/.test(c.text)));
        expect(blocks.length).toBeGreaterThan(0);
        const failures: string[] = [];
        for (const b of blocks) {
          if (b.notRun) {
            reportSkip(`${name}:${b.line} (grpcurl block)`, b.notRun);
            continue;
          }
          failures.push(...(await runBlock(name, b.commands, "grpcurl", s, new Set(["A", "TOKEN"]), describeCheck)));
        }
        expect(failures, failures.join("\n\n")).toEqual([]);
      },
      180_000,
    );
  }

  test("deploy/RUNBOOK.md: every setting in the configuration table is one its service reads", () => {
    const text = readFileSync(runbook, "utf8");
    const table = text.slice(text.indexOf("## 1."), text.indexOf("## 2."));
    const sources = (service: string) => {
      const files: string[] = [];
      const walk = (d: string) => {
        for (const e of readdirSync(d)) {
          const p = join(d, e);
          if (statSync(p).isDirectory()) walk(p);
          else if (p.endsWith(".ts")) files.push(readFileSync(p, "utf8"));
        }
      };
      walk(join(repoRoot, "services", service, "src"));
      walk(join(repoRoot, "services", "common", "src"));
      return files.join("\n");
    };
    const code = { crypto: sources("crypto"), wallet: sources("wallet") };
    const wrong: string[] = [];
    for (const row of table.split("\n").filter((l) => /^\|\s*`/.test(l))) {
      const [variables, services] = row
        .split("|")
        .slice(1, 3)
        .map((c) => c.trim()) as [string, string];
      const names: string[] = [];
      for (const m of variables.matchAll(/`([A-Z_][A-Z0-9_]*)`/g)) {
        const name = m[1]!;
        // `_KEY_FILE` after `X_CERT_FILE` means X_KEY_FILE.
        if (name.startsWith("_") && names.length > 0) {
          const previous = names.at(-1)!.split("_");
          names.push(
            [...previous.slice(0, previous.length - (name.split("_").length - 1)), ...name.split("_").slice(1)].join(
              "_",
            ),
          );
        } else names.push(name);
      }
      const readers = services === "both" ? ["crypto", "wallet"] : services.split(/,\s*/);
      for (const service of readers) {
        const source = code[service as keyof typeof code];
        if (!source) {
          wrong.push(`${row.slice(0, 60)}…: unknown service "${service}"`);
          continue;
        }
        for (const name of names) {
          if (!new RegExp(`(?<![A-Za-z0-9_])${name}(?![A-Za-z0-9_])`).test(source)) {
            wrong.push(`${name}: the runbook says the ${service} service reads it; it does not`);
          }
        }
      }
    }
    expect(wrong, wrong.join("\n")).toEqual([]);
  });
});

describe("documentation: curl examples against a running wallet", () => {
  const reason = haveCurl ? undefined : "curl is not installed";
  if (reason) reportSkip("deploy documentation test (curl examples)", reason);
  const dir = mkdtempSync(join(tmpdir(), "cvw-docs-rest-"));
  const token = serviceToken();
  const services: Service[] = [];
  let openai: Server | undefined;
  let http: WalletHttp;
  let metricsAddress = "";
  /** Keys the OpenAI stand-in accepts: the one the README stores (a key PATCHed in after is refused). */
  const goodKeys = new Set<string>();
  let firstKey: string | undefined;

  beforeAll(async () => {
    if (reason) return;
    // GET /v1/models as OpenAI answers it: 200 for the first key it is shown, 401 invalid_api_key after.
    openai = createServer((req, res) => {
      const key = (req.headers.authorization ?? "").replace(/^Bearer /, "");
      firstKey ??= key;
      if (key === firstKey) goodKeys.add(key);
      const ok = req.url === "/v1/models" && goodKeys.has(key);
      res.writeHead(ok ? 200 : 401, { "content-type": "application/json" });
      res.end(
        JSON.stringify(
          ok
            ? { object: "list", data: [{ id: "gpt-4o", object: "model" }] }
            : {
                error: {
                  message: "Incorrect API key provided",
                  type: "invalid_request_error",
                  code: "invalid_api_key",
                },
              },
        ),
      );
    });
    await new Promise<void>((resolve) => openai!.listen(0, "127.0.0.1", resolve));
    const crypto = await startCrypto("crypto", { CRYPTO_DATA_DIR: join(dir, "crypto"), CRYPTO_SERVICE_TOKEN: token });
    services.push(crypto);
    metricsAddress = `127.0.0.1:${await freePort()}`;
    const wallet = await startWallet("wallet", {
      WALLET_DATA_DIR: join(dir, "wallet"),
      CRYPTO_GRPC_ADDR: crypto.address,
      CRYPTO_SERVICE_TOKEN: token,
      WALLET_PROVIDER_OPENAI_BASE_URL: `http://127.0.0.1:${(openai.address() as AddressInfo).port}`,
      WALLET_METRICS_ADDR: metricsAddress,
    });
    services.push(wallet);
    http = new WalletHttp(`http://${wallet.address}`);
    reportServer(
      "deploy documentation test (curl examples)",
      `curl against the wallet at ${wallet.address} (SQLite) and crypto at ${crypto.address}; OpenAI's key check answered by a stand-in on loopback`,
    );
  });
  afterAll(async () => {
    for (const s of services.reverse()) await s.stop();
    openai?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  for (const name of ["README.md", "services/wallet/README.md"]) {
    test.skipIf(Boolean(reason))(
      `${name}: every curl command runs as written`,
      async () => {
        const blocks = readDocBlocks(join(repoRoot, name)).filter((b) =>
          b.commands.some((c) => /^curl\s/.test(c.text)),
        );
        expect(blocks.length).toBeGreaterThan(0);
        const failures: string[] = [];
        // One reader per document: the examples assume a signed-in cookie jar `jar` and a token
        // in $T; every block starts from that (signed in again, $T the reader's token).
        const cwd = mkdtempSync(join(dir, "doc-"));
        const email = `reader-${name.replace(/\W/g, "-")}@example.com`;
        const user = await userWithToken(http, email, ["keys:read", "keys:write", "tokens:write"]);
        const session: Session = {
          env: { W: http.base, T: user.token },
          values: { userId: user.userId },
          cwd,
          hosts: [[`127.0.0.1:${(openai!.address() as AddressInfo).port}`, "api.openai.com"]],
        };
        for (const block of blocks) {
          if (block.notRun) {
            reportSkip(`${name}:${block.line} (curl block)`, block.notRun);
            continue;
          }
          const login = await runShell(
            `curl -c jar -X POST $W/api/auth/login -H 'Content-Type: application/json' -d '{"email":"${email}","password":"correct horse battery staple"}'`,
            { W: http.base },
            cwd,
          );
          expect(login.http, login.stderr).toEqual([200]);
          session.env = { W: http.base, T: user.token };
          // A block that fetches a provider key without storing one assumes one is stored.
          const texts = block.commands.map((c) => c.text).join("\n");
          if (/keys\/provider\/|GetProviderKey/.test(texts) && !/-X POST \$W\/api\/keys\s/.test(texts)) {
            const listed = await http.call<{ keys: unknown[] }>("GET", "/api/keys?provider=openai", {
              bearer: user.token,
            });
            if (listed.json.keys.length === 0) {
              const added = await http.call("POST", "/api/keys", {
                bearer: user.token,
                body: { provider: "openai", name: "main", key: `sk-proj-${"a".repeat(40)}` },
              });
              expect(added.status).toBe(201);
            }
          }
          // README.md writes the address and the token out: substitute them as a reader would.
          const commands = block.commands.map((c) => ({
            ...c,
            text: c.text
              .replaceAll("http://127.0.0.1:8080", "$W")
              .replaceAll("http://127.0.0.1:9464", `http://${metricsAddress}`)
              .replaceAll("Bearer cvw_…", "Bearer $T"),
          }));
          failures.push(...(await runBlock(name, commands, "curl", session, new Set(["W"]))));
        }
        expect(failures, failures.join("\n\n")).toEqual([]);
      },
      180_000,
    );
  }
});
