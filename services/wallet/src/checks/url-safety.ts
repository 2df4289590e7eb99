// Where a key may be sent. A custom base URL comes from a user, so a wallet on a cloud host
// must not let it point at the host's own network: loopback, private ranges, link-local and the
// cloud metadata endpoints are refused (the first three only unless the operator allows private
// base URLs; link-local and metadata always). A saved URL is checked for its form only
// (checkBaseUrlForm: scheme, credentials, names and IP literals that are never allowed); the
// checker, when it connects, resolves the name once, checks every address, and connects to
// exactly those addresses, so a DNS answer that changes later (rebinding) cannot slip through.
import { lookup as dnsLookup } from "node:dns/promises";
import type { LookupFunction } from "node:net";
import { BlockList, isIP } from "node:net";
import { AppError } from "@cv-wallet/common/errors";

export interface SafetyOptions {
  /** WALLET_ALLOW_PRIVATE_BASE_URLS: loopback and private ranges (and plain http to them) are allowed. */
  allowPrivate: boolean;
  /**
   * A query string is allowed (a webhook URL may carry its token there, as Google Chat's does);
   * never for a base URL, to which the check's path is appended.
   */
  allowQuery?: boolean | undefined;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address it has (dns.lookup with all: true by default). */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: HostResolver = async (hostname) => {
  const answers = await dnsLookup(hostname, { all: true, verbatim: true });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** public: fine · private: only with allowPrivate · forbidden: never (link-local, metadata, unspecified, multicast). */
export type AddressClass = "public" | "private" | "forbidden";

const FORBIDDEN = new BlockList();
const PRIVATE = new BlockList();

// Checked before PRIVATE, so a metadata address inside a private range stays forbidden.
FORBIDDEN.addSubnet("0.0.0.0", 8, "ipv4"); // "this network"; 0.0.0.0 reaches the local host on Linux
FORBIDDEN.addSubnet("169.254.0.0", 16, "ipv4"); // link-local, incl. 169.254.169.254 and 169.254.170.2 (metadata)
FORBIDDEN.addAddress("100.100.100.200", "ipv4"); // Alibaba Cloud metadata (inside CGNAT)
FORBIDDEN.addSubnet("192.0.0.0", 24, "ipv4"); // IETF protocol assignments (incl. 192.0.0.192, OCI metadata)
FORBIDDEN.addSubnet("224.0.0.0", 4, "ipv4"); // multicast
FORBIDDEN.addSubnet("240.0.0.0", 4, "ipv4"); // reserved, incl. 255.255.255.255
FORBIDDEN.addAddress("::", "ipv6"); // unspecified
FORBIDDEN.addAddress("fd00:ec2::254", "ipv6"); // AWS metadata over IPv6 (inside fc00::/7)
FORBIDDEN.addSubnet("fe80::", 10, "ipv6"); // link-local
FORBIDDEN.addSubnet("ff00::", 8, "ipv6"); // multicast

PRIVATE.addSubnet("127.0.0.0", 8, "ipv4"); // loopback
PRIVATE.addSubnet("10.0.0.0", 8, "ipv4");
PRIVATE.addSubnet("172.16.0.0", 12, "ipv4");
PRIVATE.addSubnet("192.168.0.0", 16, "ipv4");
PRIVATE.addSubnet("100.64.0.0", 10, "ipv4"); // carrier-grade NAT
PRIVATE.addSubnet("198.18.0.0", 15, "ipv4"); // benchmarking
PRIVATE.addSubnet("192.0.2.0", 24, "ipv4"); // documentation ranges: not on the internet
PRIVATE.addSubnet("198.51.100.0", 24, "ipv4");
PRIVATE.addSubnet("203.0.113.0", 24, "ipv4");
PRIVATE.addAddress("::1", "ipv6"); // loopback
PRIVATE.addSubnet("fc00::", 7, "ipv6"); // unique local, incl. fd00::/8
PRIVATE.addSubnet("fec0::", 10, "ipv6"); // site-local (deprecated)
PRIVATE.addSubnet("100::", 64, "ipv6"); // discard-only
PRIVATE.addSubnet("2001:db8::", 32, "ipv6"); // documentation

// Names that are the cloud metadata service wherever they resolve.
const FORBIDDEN_NAMES = new Set([
  "metadata",
  "metadata.google.internal",
  "metadata.goog",
  "metadata.azure.internal",
  "instance-data",
  "instance-data.ec2.internal",
]);

/** Parses an IPv6 text into 8 16-bit groups (zone id dropped), or undefined. */
function ipv6Groups(text: string): number[] | undefined {
  let s = text.toLowerCase();
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  if (isIP(s) !== 6) return undefined;
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(":");
  const last = s.slice(lastColon + 1);
  if (last.includes(".")) {
    const octets = last.split(".").map(Number);
    tail = [(octets[0]! << 8) | octets[1]!, (octets[2]! << 8) | octets[3]!];
    s = `${s.slice(0, lastColon + 1)}${tail.length ? "0:0" : ""}`;
  }
  const [head, rest] = s.includes("::") ? (s.split("::") as [string, string]) : [s, undefined];
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((h) => Number.parseInt(h, 16)));
  const headGroups = parse(head);
  const restGroups = rest === undefined ? [] : parse(rest);
  const fill = rest === undefined ? 0 : 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...new Array<number>(Math.max(fill, 0)).fill(0), ...restGroups];
  if (tail.length) groups.splice(6, 2, ...tail);
  return groups.length === 8 ? groups : undefined;
}

const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;

/** The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), if any. */
function embeddedIPv4(groups: number[]): string | undefined {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [number, number, number, number, number, number, number, number];
  const zeros = (...gs: number[]) => gs.every((g) => g === 0);
  if (zeros(g0, g1, g2, g3, g4) && g5 === 0xffff) return v4(g6, g7); // ::ffff:a.b.c.d
  if (zeros(g0, g1, g2, g3, g4, g5) && !(g6 === 0 && g7 <= 1)) return v4(g6, g7); // ::a.b.c.d (deprecated)
  if (g0 === 0x64 && g1 === 0xff9b && zeros(g2, g3, g4, g5)) return v4(g6, g7); // 64:ff9b::/96 NAT64
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return v4(g6, g7); // 64:ff9b:1::/48 local NAT64
  if (g0 === 0x2002) return v4(g1, g2); // 6to4
  return undefined;
}

/** Classifies one IP address (v4 or v6, IPv4 embedded in IPv6 judged as IPv4). */
export function classifyAddress(address: string): AddressClass {
  const bare = address.replace(/^\[|\]$/g, "");
  const family = isIP(bare.split("%")[0]!);
  if (family === 4) {
    if (FORBIDDEN.check(bare, "ipv4")) return "forbidden";
    return PRIVATE.check(bare, "ipv4") ? "private" : "public";
  }
  if (family !== 6) return "forbidden";
  const groups = ipv6Groups(bare);
  if (!groups) return "forbidden";
  const embedded = embeddedIPv4(groups);
  if (embedded !== undefined) return classifyAddress(embedded);
  const normal = groups.map((g) => g.toString(16)).join(":");
  if (FORBIDDEN.check(normal, "ipv6")) return "forbidden";
  return PRIVATE.check(normal, "ipv6") ? "private" : "public";
}

const REFUSED = "base URL refused: ";

function refuse(message: string): AppError {
  return new AppError("invalid_argument", `${REFUSED}${message}`);
}

/** Said wherever a loopback or private address is refused: the setting that allows them. */
const PRIVATE_HINT = "; the wallet's operator can allow those with WALLET_ALLOW_PRIVATE_BASE_URLS=true";
const PRIVATE_REFUSAL = `it points at a loopback or private network address${PRIVATE_HINT}`;

/** NXDOMAIN: the base URL's host cannot be reached, rather than refused. */
export class UnresolvedHostError extends AppError {
  constructor() {
    super("invalid_argument", `${REFUSED}its host name does not resolve`);
  }
}

/** Why an address may not be used under these options, or undefined when it may. */
function addressProblem(address: string, cleartext: boolean, options: SafetyOptions): string | undefined {
  const cls = classifyAddress(address);
  if (cls === "forbidden") return "it points at a link-local, metadata or reserved address";
  if (cls === "private" && !options.allowPrivate) return PRIVATE_REFUSAL;
  if (cls === "public" && cleartext) return "plain http is only allowed to private addresses; use https";
  return undefined;
}

/**
 * Checks what can be checked without DNS: scheme, credentials, query, fragment, well-known names,
 * and IP literals. Returns the parsed URL. Throws AppError("invalid_argument").
 */
export function parseSafeBaseUrl(text: string, options: SafetyOptions): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refuse("not a valid absolute URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw refuse("only https URLs are allowed");
  const host = hostOf(url);
  if (url.protocol === "http:" && !options.allowPrivate) {
    // http://localhost:1234/v1 (a local model server) is the common case: name the setting.
    const local =
      host === "localhost" || host.endsWith(".localhost") || (isIP(host) !== 0 && classifyAddress(host) === "private");
    throw refuse(
      local
        ? `plain http to a loopback or private network address is off${PRIVATE_HINT}`
        : "only https URLs are allowed",
    );
  }
  if (url.username || url.password) throw refuse("it must not contain a user name or password");
  if (url.hash) throw refuse("it must not contain a fragment");
  if (url.search && !options.allowQuery) throw refuse("it must not contain a query string or fragment");
  if (host === "") throw refuse("it has no host");
  if (FORBIDDEN_NAMES.has(host)) throw refuse("it names a cloud metadata service");
  if (isIP(host)) {
    const problem = addressProblem(host, url.protocol === "http:", options);
    if (problem) throw refuse(problem);
  } else if ((host === "localhost" || host.endsWith(".localhost")) && !options.allowPrivate) {
    throw refuse(PRIVATE_REFUSAL);
  }
  return url;
}

/**
 * What a saved base URL must pass: parseSafeBaseUrl's checks, no DNS (the addresses are checked
 * when a request is made, see resolveSafeBaseUrl). The message has no "base URL refused" lead,
 * so the caller can name the field.
 */
export function checkBaseUrlForm(text: string, options: SafetyOptions): void {
  try {
    parseSafeBaseUrl(text, options);
  } catch (error) {
    if (error instanceof AppError && error.message.startsWith(REFUSED)) {
      throw new AppError("invalid_argument", error.message.slice(REFUSED.length));
    }
    throw error;
  }
}

/** The URL's host name without IPv6 brackets or a trailing dot, lowercase. */
export function hostOf(url: URL): string {
  return url.hostname
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "")
    .toLowerCase();
}

/**
 * Resolves the URL's host (once) and checks every address. Returns the checked addresses, which
 * the caller connects to (pinned) so the answer cannot change in between.
 * Throws AppError("invalid_argument") when refused, AppError("unavailable") when DNS fails transiently.
 */
export async function resolveSafeBaseUrl(
  text: string,
  options: SafetyOptions & { resolve?: HostResolver },
): Promise<{ url: URL; addresses: ResolvedAddress[] }> {
  const url = parseSafeBaseUrl(text, options);
  const host = hostOf(url);
  const cleartext = url.protocol === "http:";
  if (isIP(host)) return { url, addresses: [{ address: host, family: isIP(host) === 6 ? 6 : 4 }] };
  let addresses: ResolvedAddress[];
  try {
    addresses = await (options.resolve ?? systemResolver)(host);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ENOTFOUND" || code === "ENODATA") throw new UnresolvedHostError();
    throw new AppError("unavailable", "could not resolve the base URL's host name", { cause: error });
  }
  if (addresses.length === 0) throw new UnresolvedHostError();
  // Every address must pass: a name with one public and one private address is refused.
  for (const { address } of addresses) {
    const problem = addressProblem(address, cleartext, options);
    if (problem) throw refuse(problem);
  }
  return { url, addresses };
}

/**
 * Throws AppError("invalid_argument", …) unless the custom base URL is https (http only to
 * private addresses, and only when allowed) and its host is not, and does not resolve to, a
 * loopback, private, CGNAT, link-local or metadata address (the first ones only when allowed).
 */
export async function assertSafeBaseUrl(
  url: string,
  options: SafetyOptions & { resolve?: HostResolver },
): Promise<void> {
  await resolveSafeBaseUrl(url, options);
}

/**
 * A `lookup` for node:http(s) that answers only with addresses already checked, so the
 * connection goes to exactly those (TLS still verifies the certificate for the host name).
 */
export function pinnedLookup(addresses: readonly ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const family = typeof options === "object" && options ? options.family : undefined;
    const wanted = family === 4 || family === 6 ? addresses.filter((a) => a.family === family) : [...addresses];
    if (wanted.length === 0) {
      const error = Object.assign(new Error("no checked address of the requested family"), { code: "ENOTFOUND" });
      callback(error, "", 0);
      return;
    }
    if (typeof options === "object" && options?.all) {
      (callback as unknown as (e: null, a: ResolvedAddress[]) => void)(null, wanted);
    } else {
      callback(null, wanted[0]!.address, wanted[0]!.family);
    }
  };
}
