// createWalletClient: the typed client tools import (cv-git among them), built on the
// generated Connect client for cvwallet.wallet.v1.WalletService. It finds the token the way
// the command does (option → CVW_TOKEN → stored credentials), says who is asking on every
// request, retries what is worth retrying, and turns failures into typed errors.
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import {
  type AccessToken,
  type ApiKey,
  type GetCurrentUserResponse,
  type Provider,
  WalletService,
} from "@cv-wallet/proto/wallet/v1";
import { type CredentialOptions, readToken, type StoreKind } from "./credentials.ts";
import {
  NotSignedInError,
  RateLimitedError,
  toWalletError,
  UnavailableError,
  UnreachableError,
  WalletError,
} from "./errors.ts";
import { type ClientIdentity, identity, identityHeaders } from "./identity.ts";

export const DEFAULT_URL = "http://127.0.0.1:8080";

export interface WalletClientOptions {
  /** The wallet's URL; default $CVW_URL, else http://127.0.0.1:8080. */
  url?: string | undefined;
  /** An access token; default $CVW_TOKEN, else the one `cvw login` stored for this URL. */
  token?: string | undefined;
  /** Names the calling tool in the wallet's audit log; default "cvw". cv-git passes "cv-git". */
  clientName?: string | undefined;
  clientVersion?: string | undefined;
  /** The repository to report (host/path); default: the origin remote of cwd's git work tree; false: none. */
  repository?: string | false | undefined;
  cwd?: string | undefined;
  /** Retries after the first try on unavailable, unreachable and rate-limited answers; default 3. */
  retries?: number | undefined;
  /** A Retry-After longer than this is not waited for: the call fails with RateLimitedError. Default 30 s. */
  maxRetryDelayMs?: number | undefined;
  /** Deadline of each attempt; default 15 s. */
  timeoutMs?: number | undefined;
  /** Where stored credentials are looked up. */
  credentials?: CredentialOptions | undefined;
  /** Environment to read CVW_URL / CVW_TOKEN from; default process.env. */
  env?: NodeJS.ProcessEnv | undefined;
  fetch?: typeof globalThis.fetch | undefined;
}

export type TokenSource = "option" | "env" | StoreKind;

export interface WalletClient {
  readonly url: string;
  readonly identity: ClientIdentity;
  /** The decrypted key of a provider: its default key, or the one with this name. */
  getProviderKey(provider: string, options?: { name?: string | undefined }): Promise<string>;
  /** Key records, masked (never the secret), every page. */
  listKeys(options?: { provider?: string | undefined }): Promise<ApiKey[]>;
  listProviders(): Promise<Provider[]>;
  /** Who the token belongs to and what it may do. */
  whoami(): Promise<GetCurrentUserResponse>;
  /** The caller's tokens (needs tokens:write). */
  listTokens(): Promise<AccessToken[]>;
  revokeToken(id: string): Promise<void>;
  /** Where the token came from; throws NotSignedInError when there is none. */
  tokenSource(): Promise<TokenSource>;
  /** The generated Connect client with the same token, headers and no retries, for everything else. */
  readonly rpc: Client<typeof WalletService>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function resolveUrl(url: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const raw = url || env.CVW_URL || DEFAULT_URL;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new WalletError("failed", `the wallet URL "${raw}" is not a URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new WalletError("failed", `the wallet URL must be http or https, not ${parsed.protocol}`);
  }
  if (parsed.username || parsed.password) throw new WalletError("failed", "the wallet URL must not hold credentials");
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, "")}`;
}

/** Finds the token: option, then CVW_TOKEN, then stored credentials for this URL. */
export async function resolveToken(
  url: string,
  options: Pick<WalletClientOptions, "token" | "env" | "credentials">,
): Promise<{ token: string; source: TokenSource }> {
  const env = options.env ?? process.env;
  if (options.token) return { token: options.token, source: "option" };
  if (env.CVW_TOKEN) return { token: env.CVW_TOKEN, source: "env" };
  const stored = await readToken(url, { env, ...options.credentials });
  if (stored) return { token: stored.token, source: stored.store };
  throw new NotSignedInError(`not signed in to the wallet at ${url}: run cvw login, or set CVW_TOKEN`);
}

export function createWalletClient(options: WalletClientOptions = {}): WalletClient {
  const env = options.env ?? process.env;
  const url = resolveUrl(options.url, env);
  const who = identity({
    clientName: options.clientName,
    clientVersion: options.clientVersion,
    repository: options.repository,
    cwd: options.cwd,
  });
  const headers = identityHeaders(who);
  const retries = options.retries ?? 3;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
  let tokenPromise: Promise<{ token: string; source: TokenSource }> | undefined;
  const token = () => {
    tokenPromise ??= resolveToken(url, options);
    return tokenPromise;
  };

  const authenticate: Interceptor = (next) => async (req) => {
    for (const [name, value] of Object.entries(headers)) req.header.set(name, value);
    req.header.set("authorization", `Bearer ${(await token()).token}`);
    return next(req);
  };
  const rpc = createClient(
    WalletService,
    createConnectTransport({
      baseUrl: url,
      interceptors: [authenticate],
      defaultTimeoutMs: options.timeoutMs ?? 15_000,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    }),
  );

  /** One call with retries on unavailable / unreachable / resource_exhausted (honouring Retry-After). */
  async function call<T>(work: () => Promise<T>): Promise<T> {
    // No token (or a refused credentials file) fails here, before any request.
    await token();
    for (let attempt = 0; ; attempt++) {
      try {
        return await work();
      } catch (thrown) {
        const error = toWalletError(thrown, url);
        const retryable =
          error instanceof UnavailableError || error instanceof UnreachableError || error instanceof RateLimitedError;
        if (!retryable) throw error;
        let delay = Math.min(4000, 250 * 2 ** attempt) * (0.75 + Math.random() / 2);
        if (error instanceof RateLimitedError && error.retryAfterSeconds !== undefined) {
          delay = error.retryAfterSeconds * 1000;
        }
        if (attempt >= retries || delay > maxRetryDelayMs) {
          if (error instanceof RateLimitedError) {
            const wait = error.retryAfterSeconds === undefined ? "" : `; try again in ${error.retryAfterSeconds} s`;
            throw new RateLimitedError(
              `the wallet at ${url} is rate limiting this token: ${error.message}${wait}`,
              error.retryAfterSeconds,
              { cause: error },
            );
          }
          throw error;
        }
        await sleep(delay);
      }
    }
  }

  return {
    url,
    identity: who,
    rpc,
    async getProviderKey(provider, opts = {}) {
      const res = await call(() => rpc.getProviderKey({ provider, name: opts.name ?? "" }));
      return res.key;
    },
    async listKeys(opts = {}) {
      const keys: ApiKey[] = [];
      let pageToken = "";
      do {
        const res = await call(() => rpc.listKeys({ provider: opts.provider ?? "", pageSize: 500, pageToken }));
        keys.push(...res.keys);
        pageToken = res.nextPageToken;
      } while (pageToken);
      return keys;
    },
    async listProviders() {
      return (await call(() => rpc.listProviders({}))).providers;
    },
    async whoami() {
      return call(() => rpc.getCurrentUser({}));
    },
    async listTokens() {
      return (await call(() => rpc.listTokens({}))).tokens;
    },
    async revokeToken(id) {
      await call(() => rpc.revokeToken({ id }));
    },
    async tokenSource() {
      return (await token()).source;
    },
  };
}
