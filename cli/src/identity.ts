// Who is asking, sent on every request so the wallet can record it on each retrieval's audit
// event: cvw-client (name/version), cvw-host (this machine's name) and, inside a git work
// tree, cvw-repository (the origin remote as host/path, with any credentials removed).
import { execFileSync } from "node:child_process";
import { hostname } from "node:os";
import { VERSION } from "./version.ts";

export const CLIENT_HEADER = "cvw-client";
export const HOST_HEADER = "cvw-host";
export const REPOSITORY_HEADER = "cvw-repository";

export interface ClientIdentity {
  /** "cvw" for the command; tools pass their own ("cv-git"). */
  clientName: string;
  clientVersion: string;
  host: string;
  /** host/path of the work tree's origin remote; undefined outside a git work tree. */
  repository: string | undefined;
}

/** Header values stay printable ASCII and short; anything else is dropped or encoded. */
function headerSafe(value: string, max = 256): string {
  // Printable ASCII stays as it is; anything else is percent-encoded (UTF-8).
  return value
    .toWellFormed()
    .replace(/[^\x20-\x7e]/gu, (c) => encodeURIComponent(c))
    .slice(0, max);
}

/**
 * A git remote as host/path: "https://user:pw@GitHub.com/acme/app.git" and
 * "git@github.com:acme/app.git" both become "github.com/acme/app". Local paths and
 * unparseable remotes give undefined: they name nothing another machine could find.
 */
export function normaliseRemote(remote: string): string | undefined {
  const text = remote.trim();
  if (text === "") return undefined;
  let host: string;
  let path: string;
  const scp = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/\/)(.+)$/.exec(text);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return undefined;
    }
    if (url.protocol === "file:" || url.hostname === "") return undefined;
    host = url.hostname;
    path = decodeURIComponent(url.pathname);
  } else if (scp && !text.startsWith("/") && !/^[A-Za-z]:[\\/]/.test(text)) {
    host = scp[1]!;
    path = scp[2]!;
  } else {
    return undefined;
  }
  path = path
    .replace(/^\/+/, "")
    .replace(/\/+$/, "")
    .replace(/\.git$/, "");
  if (path === "") return undefined;
  return `${host.toLowerCase()}/${path}`;
}

/** The origin remote of the work tree holding cwd, normalised; undefined outside one. */
export function repositoryOf(cwd: string): string | undefined {
  const git = (args: string[]) =>
    execFileSync("git", args, {
      cwd,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 3000,
      // A prompt for credentials or a pager has no place here.
      env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_PAGER: "cat" },
    }).trim();
  try {
    if (git(["rev-parse", "--is-inside-work-tree"]) !== "true") return undefined;
    return normaliseRemote(git(["config", "--get", "remote.origin.url"]));
  } catch {
    // Not a work tree, no origin remote, or no git at all.
    return undefined;
  }
}

export function identity(options: {
  clientName?: string | undefined;
  clientVersion?: string | undefined;
  /** A repository to report instead of detecting one; false sends none. */
  repository?: string | false | undefined;
  cwd?: string | undefined;
}): ClientIdentity {
  const repository =
    options.repository === false
      ? undefined
      : options.repository !== undefined
        ? (normaliseRemote(options.repository) ?? options.repository)
        : repositoryOf(options.cwd ?? process.cwd());
  return {
    clientName: options.clientName ?? "cvw",
    clientVersion: options.clientVersion ?? (options.clientName && options.clientName !== "cvw" ? "" : VERSION),
    host: hostname(),
    repository,
  };
}

export function identityHeaders(id: ClientIdentity): Record<string, string> {
  const client = id.clientVersion ? `${id.clientName}/${id.clientVersion}` : id.clientName;
  const headers: Record<string, string> = {
    [CLIENT_HEADER]: headerSafe(client, 128),
    [HOST_HEADER]: headerSafe(id.host, 255),
    "user-agent": headerSafe(`${client} (cv-wallet/${VERSION})`, 256),
  };
  if (id.repository) headers[REPOSITORY_HEADER] = headerSafe(id.repository, 512);
  return headers;
}
