// The `cvw` command: argument parsing, the commands, and one mapping from failures to the
// documented exit codes. The token is never printed, logged, put in an error message or
// passed on a child's command line (nor in its environment: `run` strips CVW_TOKEN).
import { spawn } from "node:child_process";
import { constants } from "node:os";
import { parseArgs } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { ApiKeySchema } from "@cv-wallet/proto/wallet/v1";
import { createWalletClient, resolveUrl, type WalletClient } from "./client.ts";
import { forgetToken, readToken, saveToken } from "./credentials.ts";
import { DeviceFlowNotServedError, pollForToken, requestDeviceCode } from "./device.ts";
import { InsecureCredentialsError, isNetworkError, NotFoundError, UnreachableError, WalletError } from "./errors.ts";
import { FORMATS, type Format, render, UnquotableError } from "./formats.ts";
import { identity, identityHeaders } from "./identity.ts";
import { isKnownProvider, knownProviders, variablesFor } from "./variables.ts";
import { VERSION } from "./version.ts";

export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  notSignedIn: 3,
  notFound: 4,
  unreachable: 5,
} as const;

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  isTty: boolean;
}

class UsageError extends Error {
  override name = "UsageError";
  readonly usage: string;
  constructor(message: string, usage: string) {
    super(message);
    this.usage = usage;
  }
}

const GLOBAL_HELP = `Global options (any command):
  --url URL      the wallet (default $CVW_URL, else http://127.0.0.1:8080)
  --token TOKEN  an access token (default $CVW_TOKEN, else the one cvw login stored);
                 prefer CVW_TOKEN: a --token value is visible to other users in ps
  --json         machine-readable output (errors too, on stderr)
  -h, --help     help for the command`;

const MAIN_HELP = `cvw ${VERSION} — fetch API keys from a cv-wallet, and run commands with them

Usage: cvw <command> [options]

Commands:
  login     sign this machine in through the browser (device code)
  logout    revoke this machine's token and forget it
  whoami    show who the token belongs to and what it may do
  keys      list your keys, masked
  get       print one provider's key, for $(cvw get openai)
  run       run a command with keys in its environment: cvw run -- COMMAND [ARGS]
  env       print the variables run would set (dotenv, shell or json)

${GLOBAL_HELP}
  -V, --version  print the version

Exit codes: 0 ok, 1 error, 2 usage, 3 not signed in or token refused, 4 not found,
5 wallet unreachable or rate limited after retries; run exits with its command's code
(128+N when it was killed by signal N, 127 when the command does not exist).`;

const HELP: Record<string, string> = {
  login: `Usage: cvw login [--no-browser] [--name NAME] [--provider P]...

Signs this machine in with a one-time code (OAuth device authorization): prints the code
and a URL, opens the browser unless --no-browser, waits for you to approve it there, then
stores the token in the OS keychain, or in $CVW_CONFIG_DIR (default
$XDG_CONFIG_HOME/cv-wallet)/credentials.json with mode 0600.

  --no-browser    only print the URL
  --name NAME     what the token is called on the wallet's Tokens page (default "cvw on HOST")
  --provider P    ask for a token limited to these providers (repeatable)`,
  logout: `Usage: cvw logout

Revokes the stored token on the wallet and forgets it on this machine.`,
  whoami: `Usage: cvw whoami

Shows the account the token belongs to, its scopes, and where the token came from.`,
  keys: `Usage: cvw keys [--provider P]

Lists your keys, masked (never the secret).`,
  get: `Usage: cvw get PROVIDER [--name NAME]

Prints only the key (and a newline), for $(cvw get openai). PROVIDER is one of
${knownProviders().join(", ")}.

  --name NAME     the key with this name instead of the provider's default`,
  run: `Usage: cvw run [--provider P]... [--all] [--allow-missing] -- COMMAND [ARGS]

Runs COMMAND with keys in its environment under their usual names (OPENAI_API_KEY,
ANTHROPIC_API_KEY, ...; a custom endpoint's key and base URL under names made from the
key's name: "Local Llama" → LOCAL_LLAMA_API_KEY, LOCAL_LLAMA_BASE_URL). Nothing is written
to disk. Signals (INT, TERM, HUP, QUIT) are passed on; cvw exits with the command's code.

  --provider P     only these providers' keys (repeatable); a missing one stops cvw
                   before COMMAND starts
  --all            every key in the wallet (the default without --provider)
  --allow-missing  start COMMAND even when a requested provider has no key`,
  env: `Usage: cvw env [--format dotenv|shell|json] [--provider P]... [--all] [--allow-missing]

Prints the variables cvw run would set, quoted for the format (default dotenv):
  dotenv   NAME='value' lines, as the dotenv package reads them
  shell    export NAME='value' lines, for eval "$(cvw env --format shell)"
  json     one object`,
};

const GLOBAL_OPTIONS = {
  url: { type: "string" },
  token: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

type OptionSpec = Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }>;

const COMMAND_OPTIONS: Record<string, OptionSpec> = {
  login: { "no-browser": { type: "boolean" }, name: { type: "string" }, provider: { type: "string", multiple: true } },
  logout: {},
  whoami: {},
  keys: { provider: { type: "string" } },
  get: { name: { type: "string" } },
  run: {
    provider: { type: "string", multiple: true },
    all: { type: "boolean" },
    "allow-missing": { type: "boolean" },
  },
  env: {
    format: { type: "string" },
    provider: { type: "string", multiple: true },
    all: { type: "boolean" },
    "allow-missing": { type: "boolean" },
  },
};

interface Parsed {
  command: string;
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** What followed `--` (run's command). */
  rest: string[] | undefined;
}

function parse(argv: string[]): Parsed | "help" | "version" {
  const dash = argv.indexOf("--");
  const head = dash === -1 ? argv : argv.slice(0, dash);
  const rest = dash === -1 ? undefined : argv.slice(dash + 1);
  const command = head.find((a) => !a.startsWith("-") && !isOptionValue(head, a));
  if (command === undefined) {
    if (head.includes("--version") || head.includes("-V")) return "version";
    if (head.includes("--help") || head.includes("-h") || head.length === 0) return "help";
    throw new UsageError("no command given", MAIN_HELP);
  }
  const spec = COMMAND_OPTIONS[command];
  if (!spec) throw new UsageError(`unknown command "${command}"`, MAIN_HELP);
  const usage = HELP[command]!;
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: head,
      options: { ...GLOBAL_OPTIONS, ...spec },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    // parseArgs' messages name the option, never a value.
    throw new UsageError((error as Error).message.split(". To specify")[0]!.split("\n")[0]!, usage);
  }
  const positionals = parsed.positionals.slice(parsed.positionals.indexOf(command) + 1);
  return { command, values: parsed.values as Parsed["values"], positionals, rest };
}

/** True when `arg` is the value of a preceding global string option (`--url X`). */
function isOptionValue(args: string[], arg: string): boolean {
  const i = args.indexOf(arg);
  const prev = args[i - 1];
  return prev === "--url" || prev === "--token" || prev === "--name" || prev === "--provider" || prev === "--format";
}

// ---- the commands ------------------------------------------------------------------------

interface Context {
  command: string;
  io: Io;
  json: boolean;
  url: string;
  token: string | undefined;
  values: Parsed["values"];
  positionals: string[];
  rest: string[] | undefined;
  client(): WalletClient;
}

const say = (ctx: Context, line: string) => ctx.io.stderr(`${line}\n`);

/** Refuses leftover arguments, without echoing one that looks like a token. */
function noMoreArguments(args: string[], command: string): void {
  if (args.length === 0) return;
  const shown = /^cvw_/.test(args[0]!) ? "(a token? pass it as CVW_TOKEN)" : `"${args[0]}"`;
  throw new UsageError(`unexpected argument ${shown}`, HELP[command]!);
}

function requireKnownProviders(providers: string[]): void {
  const unknown = providers.filter((p) => !isKnownProvider(p));
  if (unknown.length > 0) {
    throw new NotFoundError(
      `unknown provider${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}; providers: ${knownProviders().join(", ")}`,
    );
  }
}

async function whoami(ctx: Context): Promise<number> {
  noMoreArguments(ctx.positionals, "whoami");
  const client = ctx.client();
  const me = await client.whoami();
  const source = await client.tokenSource();
  if (ctx.json) {
    ctx.io.stdout(
      `${JSON.stringify({
        url: client.url,
        user: { id: me.user?.id, email: me.user?.email },
        authMethod: me.authMethod,
        scopes: me.scopes,
        tokenSource: source,
      })}\n`,
    );
  } else {
    const from = { option: "--token", env: "CVW_TOKEN", keychain: "the OS keychain", file: "the credentials file" }[
      source
    ];
    ctx.io.stdout(
      `${me.user?.email ?? "(unknown)"} at ${client.url}\nscopes: ${me.scopes.join(" ") || "(none)"}\ntoken from: ${from}\n`,
    );
  }
  return EXIT.ok;
}

function dateOf(ts: { seconds: bigint } | undefined): string {
  return ts ? new Date(Number(ts.seconds) * 1000).toISOString().slice(0, 10) : "";
}

async function keys(ctx: Context): Promise<number> {
  noMoreArguments(ctx.positionals, "keys");
  const provider = ctx.values.provider as string | undefined;
  if (provider) requireKnownProviders([provider]);
  const list = await ctx.client().listKeys({ provider });
  if (ctx.json) {
    ctx.io.stdout(`${JSON.stringify(list.map((k) => toJson(ApiKeySchema, k)))}\n`);
    return EXIT.ok;
  }
  if (list.length === 0) {
    ctx.io.stdout("no keys\n");
    return EXIT.ok;
  }
  const rows = [
    ["PROVIDER", "NAME", "KEY", "DEFAULT", "EXPIRES", "STATUS", "LAST USED"],
    ...list.map((k) => [
      k.provider,
      k.name,
      k.maskedKey,
      k.isDefault ? "yes" : "",
      dateOf(k.expiresAt),
      k.validation?.status ?? "",
      dateOf(k.lastUsedAt),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...r[i]!].length)));
  for (const r of rows)
    ctx.io.stdout(
      `${r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd()}\n`,
    );
  return EXIT.ok;
}

async function get(ctx: Context): Promise<number> {
  const [provider, ...extra] = ctx.positionals;
  if (!provider) throw new UsageError("name a provider", HELP.get!);
  noMoreArguments(extra, "get");
  requireKnownProviders([provider]);
  const name = ctx.values.name as string | undefined;
  const key = await ctx.client().getProviderKey(provider, { name });
  ctx.io.stdout(ctx.json ? `${JSON.stringify({ provider, ...(name ? { name } : {}), key })}\n` : `${key}\n`);
  return EXIT.ok;
}

/** The variables for the selected providers (all with a key when none is named). */
async function collectVariables(ctx: Context): Promise<Record<string, string>> {
  const requested = (ctx.values.provider as string[] | undefined) ?? [];
  if (requested.length > 0 && ctx.values.all) {
    throw new UsageError("--all and --provider exclude each other", HELP[ctx.command]!);
  }
  requireKnownProviders(requested);
  const client = ctx.client();
  const stored = await client.listKeys();
  const wanted = requested.length > 0 ? [...new Set(requested)] : knownProviders();
  const missing: string[] = [];
  const fetches: Promise<{ provider: string; name: string; baseUrl: string; key: string | undefined }>[] = [];
  for (const provider of wanted) {
    const records = stored.filter((k) => k.provider === provider);
    if (records.length === 0) {
      if (requested.length > 0) missing.push(provider);
      continue;
    }
    // Each custom endpoint is its own set of variables; other providers give their default key.
    const picks = provider === "custom" ? records : [records.find((k) => k.isDefault) ?? records[0]!];
    for (const record of picks) {
      const name = provider === "custom" ? record.name : undefined;
      fetches.push(
        client.getProviderKey(provider, { name }).then(
          (key) => ({ provider, name: record.name, baseUrl: record.baseUrl, key }),
          (error: unknown) => {
            if (error instanceof NotFoundError) return { provider, name: record.name, baseUrl: "", key: undefined };
            throw error;
          },
        ),
      );
    }
  }
  const vars: Record<string, string> = {};
  const owner: Record<string, string> = {};
  for (const got of await Promise.all(fetches)) {
    if (got.key === undefined) {
      missing.push(got.provider);
      continue;
    }
    for (const [name, value] of Object.entries(variablesFor({ ...got, key: got.key }))) {
      const who = `${got.provider} key "${got.name}"`;
      if (name in vars)
        throw new WalletError("failed", `${name} would hold two keys (${owner[name]} and ${who}); rename one`);
      vars[name] = value;
      owner[name] = who;
    }
  }
  if (missing.length > 0) {
    const list = [...new Set(missing)].join(", ");
    if (!ctx.values["allow-missing"]) {
      throw new NotFoundError(`no key stored for ${list} (add one, or pass --allow-missing)`);
    }
    say(ctx, `cvw: no key stored for ${list}; its variables are left unset`);
  }
  return vars;
}

async function env(ctx: Context): Promise<number> {
  const format = (ctx.values.format as string | undefined) ?? (ctx.json ? "json" : "dotenv");
  if (!FORMATS.includes(format as Format)) {
    throw new UsageError(`--format must be one of ${FORMATS.join(", ")}`, HELP.env!);
  }
  noMoreArguments(ctx.positionals, "env");
  const vars = await collectVariables(ctx);
  try {
    ctx.io.stdout(render(vars, format as Format));
  } catch (error) {
    if (error instanceof UnquotableError) throw new WalletError("failed", error.message);
    throw error;
  }
  return EXIT.ok;
}

const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as const;

async function run(ctx: Context): Promise<number> {
  const command = ctx.rest ?? [];
  if (ctx.positionals.length > 0 && command.length === 0) {
    throw new UsageError("put the command after --: cvw run [options] -- COMMAND [ARGS]", HELP.run!);
  }
  noMoreArguments(ctx.positionals, "run");
  if (command.length === 0) throw new UsageError("no command to run", HELP.run!);
  const vars = await collectVariables(ctx);
  const childEnv: NodeJS.ProcessEnv = { ...ctx.io.env, ...vars };
  // The child gets keys, not the wallet credential that fetched them.
  delete childEnv.CVW_TOKEN;
  return new Promise<number>((resolve) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: "inherit", env: childEnv, cwd: ctx.io.cwd });
    const forward = (signal: NodeJS.Signals) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    };
    for (const s of FORWARDED) process.on(s, forward);
    const done = (code: number) => {
      for (const s of FORWARDED) process.off(s, forward);
      resolve(code);
    };
    child.on("error", (error: NodeJS.ErrnoException) => {
      say(ctx, `cvw: cannot run ${command[0]}: ${error.code === "ENOENT" ? "command not found" : error.code}`);
      done(error.code === "ENOENT" ? 127 : 126);
    });
    child.on("exit", (code, signal) => {
      done(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}

async function login(ctx: Context): Promise<number> {
  noMoreArguments(ctx.positionals, "login");
  const providers = (ctx.values.provider as string[] | undefined) ?? [];
  requireKnownProviders(providers);
  const who = identity({ cwd: ctx.io.cwd });
  const headers = identityHeaders(who);
  const flow = { clientId: who.clientName, headers };
  const name = (ctx.values.name as string | undefined) ?? `cvw on ${who.host}`;
  const auth = await requestDeviceCode(ctx.url, { scope: "keys:read", providers, name }, flow);
  const minutes = Math.max(1, Math.round(auth.expiresIn / 60));
  say(ctx, `First copy your one-time code: ${auth.userCode}`);
  say(ctx, `Then approve this sign-in at ${auth.verificationUriComplete ?? auth.verificationUri}`);
  say(ctx, `(the code expires in ${minutes} min; waiting for approval…)`);
  if (!ctx.values["no-browser"]) await openBrowser(auth.verificationUriComplete ?? auth.verificationUri);
  const granted = await pollForToken(ctx.url, auth, {
    ...flow,
    onSlowDown: (interval) => say(ctx, `cvw: the wallet asked to poll less often; now every ${interval} s`),
  });
  const saved = await saveToken(ctx.url, granted.accessToken, { env: ctx.io.env });
  const client = createWalletClient({ url: ctx.url, token: granted.accessToken, env: ctx.io.env, cwd: ctx.io.cwd });
  const me = await client.whoami();
  const where = saved.store === "keychain" ? "the OS keychain" : saved.path!;
  if (ctx.json) {
    ctx.io.stdout(
      `${JSON.stringify({ url: ctx.url, user: { id: me.user?.id, email: me.user?.email }, scopes: me.scopes, store: saved.store, path: saved.path })}\n`,
    );
  } else {
    ctx.io.stdout(`Signed in to ${ctx.url} as ${me.user?.email ?? "(unknown)"} (${me.scopes.join(" ")}).\n`);
    ctx.io.stdout(`Token stored in ${where}.\n`);
  }
  return EXIT.ok;
}

/** Opens the browser where there is one to open; a failure only means the URL must be typed. */
async function openBrowser(url: string): Promise<void> {
  const env = process.env;
  if (process.platform === "linux" && !env.DISPLAY && !env.WAYLAND_DISPLAY && !env.WSL_DISTRO_NAME) return;
  try {
    const { default: open } = await import("open");
    const child = await open(url);
    child.on("error", () => {});
  } catch {
    // No browser here: the printed URL is enough.
  }
}

/**
 * RFC 7009 revocation of the token itself (`POST /oauth/revoke`): any token may revoke itself,
 * whatever its scopes. A wallet too old to serve it answers 404 (or its web UI's fallback page).
 */
async function revokeOwnToken(ctx: Context, token: string): Promise<"revoked" | "unsupported"> {
  const headers = identityHeaders(identity({ cwd: ctx.io.cwd }));
  let res: Response;
  try {
    res = await fetch(`${ctx.url}/oauth/revoke`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token, token_type_hint: "access_token", client_id: "cvw" }).toString(),
      signal: AbortSignal.timeout(15_000),
    });
    await res.arrayBuffer();
  } catch (error) {
    if (isNetworkError(error) || (error as Error).name === "TimeoutError") {
      throw new UnreachableError(ctx.url, { cause: error });
    }
    throw error;
  }
  return res.ok && !res.headers.get("content-type")?.includes("text/html") ? "revoked" : "unsupported";
}

async function logout(ctx: Context): Promise<number> {
  noMoreArguments(ctx.positionals, "logout");
  const stored = await readToken(ctx.url, { env: ctx.io.env });
  if (!stored) {
    const hint = ctx.io.env.CVW_TOKEN ? " (CVW_TOKEN is set: unset it yourself)" : "";
    say(ctx, `cvw: no stored token for ${ctx.url}${hint}`);
    if (ctx.json) ctx.io.stdout(`${JSON.stringify({ url: ctx.url, revoked: false, forgotten: false })}\n`);
    return EXIT.ok;
  }
  let outcome: Awaited<ReturnType<typeof revokeOwnToken>>;
  let unreachable: WalletError | undefined;
  try {
    outcome = await revokeOwnToken(ctx, stored.token);
  } catch (error) {
    if (!(error instanceof WalletError)) throw error;
    unreachable = error;
    outcome = "unsupported";
  }
  await forgetToken(ctx.url, { env: ctx.io.env });
  const where = stored.store === "keychain" ? "the OS keychain" : stored.path!;
  if (ctx.json) {
    ctx.io.stdout(`${JSON.stringify({ url: ctx.url, revoked: outcome !== "unsupported", forgotten: true })}\n`);
  } else if (outcome === "revoked") {
    ctx.io.stdout(`Signed out of ${ctx.url}: the token is revoked and removed from ${where}.\n`);
  } else {
    ctx.io.stdout(`Removed the token from ${where}.\n`);
    say(
      ctx,
      unreachable
        ? `cvw: could not revoke it (${unreachable.message}); revoke it on the wallet's Tokens page`
        : "cvw: this wallet does not let the token revoke itself; it stays valid until it expires or you revoke it on the wallet's Tokens page",
    );
  }
  return unreachable ? exitCodeOf(unreachable) : EXIT.ok;
}

const COMMANDS: Record<string, (ctx: Context) => Promise<number>> = { login, logout, whoami, keys, get, run, env };

// ---- errors and exit codes ---------------------------------------------------------------

export function exitCodeOf(error: WalletError): number {
  switch (error.kind) {
    case "not_signed_in":
    case "permission_denied":
    case "insecure_credentials":
      return EXIT.notSignedIn;
    case "not_found":
      return EXIT.notFound;
    case "invalid_argument":
      return EXIT.usage;
    case "unreachable":
    case "unavailable":
    case "rate_limited":
      return EXIT.unreachable;
    default:
      return EXIT.error;
  }
}

function messageOf(error: WalletError): string {
  if (error instanceof DeviceFlowNotServedError) return error.message;
  if (error instanceof InsecureCredentialsError) return error.message;
  if (error.kind === "not_signed_in" && !/cvw login/.test(error.message)) return `${error.message}; run cvw login`;
  if (error.kind === "permission_denied") return `the wallet refused this token: ${error.message}`;
  return error.message;
}

export async function main(argv: string[], io: Io): Promise<number> {
  let json = argv.includes("--json");
  const fail = (code: number, message: string, usage?: string) => {
    if (json) io.stderr(`${JSON.stringify({ error: { exitCode: code, message } })}\n`);
    else io.stderr(`cvw: ${message}\n${usage ? `\n${usage}\n` : ""}`);
    return code;
  };
  try {
    const parsed = parse(argv);
    if (parsed === "version") {
      io.stdout(`${VERSION}\n`);
      return EXIT.ok;
    }
    if (parsed === "help") {
      io.stdout(`${MAIN_HELP}\n`);
      return EXIT.ok;
    }
    json = parsed.values.json === true;
    if (parsed.values.help) {
      io.stdout(`${HELP[parsed.command]}\n\n${GLOBAL_HELP}\n`);
      return EXIT.ok;
    }
    const url = resolveUrl(parsed.values.url as string | undefined, io.env);
    const token = parsed.values.token as string | undefined;
    let client: WalletClient | undefined;
    const ctx: Context = {
      command: parsed.command,
      io,
      json,
      url,
      token,
      values: parsed.values,
      positionals: parsed.positionals,
      rest: parsed.rest,
      client: () => {
        client ??= createWalletClient({ url, token, env: io.env, cwd: io.cwd });
        return client;
      },
    };
    if (parsed.rest !== undefined && parsed.command !== "run") {
      throw new UsageError(`${parsed.command} takes no command after --`, HELP[parsed.command]!);
    }
    return await COMMANDS[parsed.command]!(ctx);
  } catch (error) {
    if (error instanceof UsageError) return fail(EXIT.usage, error.message, json ? undefined : error.usage);
    if (error instanceof WalletError) return fail(exitCodeOf(error), messageOf(error));
    // Anything else is a bug: say so without a stack (which could quote a request).
    return fail(EXIT.error, `unexpected error: ${error instanceof Error ? error.message : String(error)}`);
  }
}
