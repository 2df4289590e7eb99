// Where a signed-in machine keeps its token: the OS keychain (macOS Keychain, Windows
// Credential Manager, the Secret Service on Linux desktops) through @napi-rs/keyring when one
// answers; otherwise credentials.json under $CVW_CONFIG_DIR or $XDG_CONFIG_HOME/cv-wallet
// (~/.config/cv-wallet), mode 0600 in a 0700 folder. Like ssh with a private key, a file that
// group or others can read, or that another user owns, is refused rather than used.
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { InsecureCredentialsError, WalletError } from "./errors.ts";

const KEYCHAIN_SERVICE = "cv-wallet";
const KEYCHAIN_TIMEOUT_MS = 1500;

export type StoreKind = "keychain" | "file";

export interface CredentialOptions {
  /** Folder of credentials.json; default $CVW_CONFIG_DIR, else $XDG_CONFIG_HOME/cv-wallet. */
  configDir?: string | undefined;
  /** auto (keychain when one answers, else file), file or keychain; default $CVW_CREDENTIAL_STORE or auto. */
  store?: "auto" | StoreKind | undefined;
  env?: NodeJS.ProcessEnv | undefined;
}

interface CredentialsFile {
  version: 1;
  wallets: Record<string, { token: string; savedAt: string }>;
}

export function configDir(options: CredentialOptions = {}): string {
  const env = options.env ?? process.env;
  if (options.configDir) return options.configDir;
  if (env.CVW_CONFIG_DIR) return env.CVW_CONFIG_DIR;
  return join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "cv-wallet");
}

export function credentialsPath(options: CredentialOptions = {}): string {
  return join(configDir(options), "credentials.json");
}

/** The wallet URL as the key tokens are stored under: origin plus path, no trailing slash. */
export function walletKey(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname.replace(/\/+$/, "")}`;
}

function storeKind(options: CredentialOptions): "auto" | StoreKind {
  const wanted = options.store ?? (options.env ?? process.env).CVW_CREDENTIAL_STORE ?? "auto";
  if (wanted !== "auto" && wanted !== "file" && wanted !== "keychain") {
    throw new WalletError("failed", `CVW_CREDENTIAL_STORE must be auto, file or keychain, not "${wanted}"`);
  }
  return wanted;
}

// ---- the keychain ------------------------------------------------------------------------

interface KeyringModule {
  AsyncEntry: new (
    service: string,
    account: string,
  ) => {
    getPassword(signal?: AbortSignal): Promise<string | null>;
    setPassword(password: string, signal?: AbortSignal): Promise<void>;
    deletePassword(signal?: AbortSignal): Promise<boolean>;
  };
}

let keyringProbe: Promise<KeyringModule | undefined> | undefined;

function withTimeout<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const signal = AbortSignal.timeout(KEYCHAIN_TIMEOUT_MS);
  return Promise.race([
    work(signal),
    new Promise<never>((_, reject) =>
      signal.addEventListener("abort", () => reject(new Error("the keychain did not answer"))),
    ),
  ]);
}

/**
 * The keyring module when a keychain answers here, else undefined. Decided once per process,
 * fast: on Linux without a D-Bus session (servers, containers, CI) there is no Secret Service
 * to ask, so it is not asked; elsewhere one read must answer within 1.5 s.
 */
function keychain(): Promise<KeyringModule | undefined> {
  keyringProbe ??= (async () => {
    if (process.platform === "linux" && !process.env.DBUS_SESSION_BUS_ADDRESS) return undefined;
    try {
      const mod = (await import("@napi-rs/keyring")) as unknown as KeyringModule;
      await withTimeout((signal) => new mod.AsyncEntry(KEYCHAIN_SERVICE, "probe").getPassword(signal));
      return mod;
    } catch {
      return undefined;
    }
  })();
  return keyringProbe;
}

async function keychainFor(options: CredentialOptions): Promise<KeyringModule | undefined> {
  const kind = storeKind(options);
  if (kind === "file") return undefined;
  const mod = await keychain();
  if (!mod && kind === "keychain") {
    throw new WalletError("failed", "CVW_CREDENTIAL_STORE=keychain, but no OS keychain answers on this machine");
  }
  return mod;
}

// ---- the file ----------------------------------------------------------------------------

function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, "0");
}

/** The file's contents, or undefined when there is none; refuses one others could read. */
function readFile(path: string): CredentialsFile | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new WalletError("failed", `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
  try {
    const st = fstatSync(fd);
    if (process.platform !== "win32") {
      if ((st.mode & 0o077) !== 0) {
        throw new InsecureCredentialsError(
          path,
          `permissions ${octal(st.mode)} for '${path}' are too open.\n` +
            "It is required that your cv-wallet credentials are NOT accessible by others.\n" +
            `This file will be ignored. Fix it with: chmod 600 '${path}' (or run cvw logout and cvw login)`,
        );
      }
      const uid = process.getuid?.();
      if (uid !== undefined && st.uid !== uid) {
        throw new InsecureCredentialsError(
          path,
          `'${path}' belongs to user ${st.uid}, not to you (${uid}); it will be ignored.`,
        );
      }
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(fd, "utf8"));
    } catch {
      throw new WalletError("failed", `${path} is not valid JSON; delete it and run cvw login`);
    }
    const file = parsed as Partial<CredentialsFile>;
    if (typeof file !== "object" || file === null || typeof file.wallets !== "object" || file.wallets === null) {
      throw new WalletError("failed", `${path} is not a cv-wallet credentials file; delete it and run cvw login`);
    }
    return { version: 1, wallets: file.wallets };
  } finally {
    closeSync(fd);
  }
}

/** Replaces the file atomically; the new file is 0600 from its first byte. */
function writeFile(path: string, dir: string, file: CredentialsFile): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.credentials.${process.pid}.${Date.now()}.tmp`);
  try {
    writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: "wx" });
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw new WalletError("failed", `cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

// ---- the store ---------------------------------------------------------------------------

export interface StoredToken {
  token: string;
  store: StoreKind;
  /** The file, when store is file. */
  path?: string;
}

export async function readToken(url: string, options: CredentialOptions = {}): Promise<StoredToken | undefined> {
  const key = walletKey(url);
  const mod = await keychainFor(options);
  if (mod) {
    try {
      const token = await withTimeout((signal) => new mod.AsyncEntry(KEYCHAIN_SERVICE, key).getPassword(signal));
      if (token) return { token, store: "keychain" };
    } catch {
      // Fall through to the file.
    }
  }
  if (storeKind(options) === "keychain") return undefined;
  const path = credentialsPath(options);
  const entry = readFile(path)?.wallets[key];
  return entry && typeof entry.token === "string" ? { token: entry.token, store: "file", path } : undefined;
}

export async function saveToken(
  url: string,
  token: string,
  options: CredentialOptions = {},
): Promise<{ store: StoreKind; path?: string }> {
  const key = walletKey(url);
  const mod = await keychainFor(options);
  if (mod) {
    try {
      await withTimeout((signal) => new mod.AsyncEntry(KEYCHAIN_SERVICE, key).setPassword(token, signal));
      return { store: "keychain" };
    } catch (error) {
      if (storeKind(options) === "keychain") {
        throw new WalletError("failed", "the OS keychain refused to store the token", { cause: error });
      }
    }
  }
  const dir = configDir(options);
  const path = credentialsPath(options);
  const file = readFile(path) ?? { version: 1, wallets: {} };
  file.wallets[key] = { token, savedAt: new Date().toISOString() };
  writeFile(path, dir, file);
  return { store: "file", path };
}

/** Forgets the wallet's token everywhere it may be stored; true when one was there. */
export async function forgetToken(url: string, options: CredentialOptions = {}): Promise<boolean> {
  const key = walletKey(url);
  let found = false;
  const mod = await keychainFor(options);
  if (mod) {
    try {
      found = await withTimeout((signal) => new mod.AsyncEntry(KEYCHAIN_SERVICE, key).deletePassword(signal));
    } catch {
      // Nothing stored there, or the keychain went away: the file may still hold one.
    }
  }
  if (storeKind(options) === "keychain") return found;
  const path = credentialsPath(options);
  const file = readFile(path);
  if (file && key in file.wallets) {
    delete file.wallets[key];
    writeFile(path, configDir(options), file);
    found = true;
  }
  return found;
}
