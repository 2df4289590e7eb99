// Device sign-in (OAuth 2.0 Device Authorization Grant, RFC 8628). A tool asks for a code,
// shows the person a short user code and polls; the person, signed in, reviews the request
// and approves it (possibly narrowed, never broadened) or denies it; the tool's next poll
// gets an ordinary `cvw_` access token, once. Only hashes of both codes are stored. Wrong
// user codes are throttled per session and per address, since 20^8 codes can be guessed at.
import { randomBytes, randomInt } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AppError, invalidArgument, notFound } from "@cv-wallet/common/errors";
import { PROVIDER_IDS, TOKEN_SCOPES } from "@cv-wallet/proto/catalog";
import type {
  ApproveDeviceRequestRequest,
  ApproveDeviceRequestResponseSchema,
  DenyDeviceRequestRequest,
  DenyDeviceRequestResponseSchema,
  DeviceRequestSchema,
  GetDeviceRequestRequest,
  GetDeviceRequestResponseSchema,
} from "@cv-wallet/proto/wallet/v1";
import { type AuditScope, auditScope, recordAudit } from "./audit.ts";
import { requireSession } from "./auth.ts";
import type { Call, Principal, RequestInfo } from "./context.ts";
import type { WalletDeps } from "./deps.ts";
import { newId } from "./ids.ts";
import { consume, refuseWhenSpent } from "./limits.ts";
import type { DeviceRequestRecord } from "./ports/store.ts";
import { teamMembership } from "./teams.ts";
import { hashSecret } from "./token-format.ts";
import { issueToken } from "./tokens.ts";

export const DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
/** No vowels (no words), no digits, nothing that reads as another letter (RFC 8628 §6.1). */
export const USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LENGTH = 8;
const DEVICE_CODE_PREFIX = "cvwd_";
const DEVICE_CODE = /^cvwd_[A-Za-z0-9_-]{43}$/;
const DEFAULT_SCOPES = ["keys:read"];
const DEFAULT_TOKEN_DAYS = 90;
const DAY_MS = 86_400_000;

/** The error codes of RFC 6749 §5.2 and RFC 8628 §3.5, sent as `{ "error": code }`. */
export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "invalid_scope"
  | "unsupported_grant_type"
  | "authorization_pending"
  | "slow_down"
  | "access_denied"
  | "expired_token";

/** An OAuth endpoint's answer other than success; the description is safe to show. */
export class OAuthError extends Error {
  readonly error: OAuthErrorCode;
  constructor(error: OAuthErrorCode, description: string) {
    super(description);
    this.name = "OAuthError";
    this.error = error;
  }
}

const nowOf = (deps: WalletDeps) => (deps.clock ? deps.clock() : new Date());

/** "bcdf-ghjk", "BCDF GHJK" → "BCDFGHJK"; undefined when it cannot be one of ours. */
export function normalizeUserCode(text: string): string | undefined {
  const code = text.toUpperCase().replace(/[\s-]/g, "");
  if (code.length !== USER_CODE_LENGTH) return undefined;
  for (const c of code) if (!USER_CODE_ALPHABET.includes(c)) return undefined;
  return code;
}

export const formatUserCode = (code: string) => `${code.slice(0, 4)}-${code.slice(4)}`;

function generateUserCode(): string {
  let code = "";
  for (let i = 0; i < USER_CODE_LENGTH; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return code;
}

const generateDeviceCode = () => `${DEVICE_CODE_PREFIX}${randomBytes(32).toString("base64url")}`;

/** A printable client_id, at most 100 characters (it names the token). */
function checkClientId(clientId: string | undefined): string {
  if (clientId === undefined || clientId === "") throw new OAuthError("invalid_request", "client_id is required");
  if (!/^[\x21-\x7e][\x20-\x7e]{0,99}$/.test(clientId)) {
    throw new OAuthError("invalid_request", "client_id must be 1 to 100 printable ASCII characters");
  }
  return clientId.trim();
}

function parseList(text: string | undefined, separators: RegExp): string[] {
  return [...new Set((text ?? "").split(separators).filter((s) => s !== ""))];
}

export interface DeviceAuthorizationInput {
  clientId?: string | undefined;
  /** The token's name on the Tokens page; default "<client> on <host>". */
  name?: string | undefined;
  /** Space-separated token scopes; default keys:read. */
  scope?: string | undefined;
  /** Space- or comma-separated provider ids; default all. */
  providers?: string | undefined;
}

/** The device authorization response (RFC 8628 §3.2), field names as on the wire. */
export interface DeviceAuthorization {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

/**
 * POST /oauth/device/code. `origin` is the request's own origin, used when no public URL is
 * configured.
 */
export async function startDeviceAuthorization(
  deps: WalletDeps,
  input: DeviceAuthorizationInput,
  info: RequestInfo,
  origin: string,
): Promise<DeviceAuthorization> {
  const clientId = checkClientId(input.clientId);
  const scopes = parseList(input.scope, / +/);
  const unknownScope = scopes.find((s) => !(TOKEN_SCOPES as readonly string[]).includes(s));
  if (unknownScope !== undefined) {
    throw new OAuthError("invalid_scope", `unknown scope; the scopes are ${TOKEN_SCOPES.join(", ")}`);
  }
  const providers = parseList(input.providers, /[\s,]+/);
  const host = info.client?.host ?? "";
  let tokenName = (host ? `${clientId} on ${host}` : clientId).slice(0, 100);
  if (input.name !== undefined) {
    // Same rule as a token created on the Tokens page.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    if (!/^[^\x00-\x1f\x7f]{1,100}$/.test(input.name) || input.name.trim() === "") {
      throw new OAuthError("invalid_request", "name must be 1 to 100 characters without control characters");
    }
    tokenName = input.name.trim();
  }
  if (providers.some((x) => !(PROVIDER_IDS as readonly string[]).includes(x))) {
    throw new OAuthError("invalid_scope", `unknown provider; the providers are ${PROVIDER_IDS.join(", ")}`);
  }
  // An unauthenticated write: bounded per address.
  await consume(
    deps.limits.deviceAuthorizations,
    `address:${info.address}`,
    "too many sign-in requests from this address",
  );
  const createdAt = nowOf(deps);
  const ttl = deps.settings.deviceCodeTtlMs;
  for (let attempt = 0; ; attempt++) {
    const deviceCode = generateDeviceCode();
    const userCode = generateUserCode();
    const record: DeviceRequestRecord = {
      id: newId(),
      deviceCodeHash: hashSecret(deviceCode),
      userCodeHash: hashSecret(userCode),
      clientId,
      clientHost: host,
      clientRepository: info.client?.repository ?? "",
      tokenName,
      address: info.address,
      userAgent: info.userAgent.slice(0, 256),
      scopes: scopes.length > 0 ? scopes : DEFAULT_SCOPES,
      providers,
      createdAt,
      expiresAt: new Date(createdAt.getTime() + ttl),
      intervalSeconds: deps.settings.devicePollIntervalSeconds,
      status: "pending",
    };
    try {
      await deps.store.deviceRequests.create(record);
    } catch (error) {
      // A user code still held by a live request (1 in 20^8 per live request): draw again.
      if (error instanceof AppError && error.code === "already_exists" && attempt < 3) continue;
      throw error;
    }
    deps.logger.info(
      { deviceRequest: record.id, client: clientId, clientHost: record.clientHost, address: info.address },
      "device sign-in requested",
    );
    const base = `${deps.settings.publicUrl ?? origin}/device`;
    const shown = formatUserCode(userCode);
    return {
      device_code: deviceCode,
      user_code: shown,
      verification_uri: base,
      verification_uri_complete: `${base}?code=${shown}`,
      expires_in: Math.floor(ttl / 1000),
      interval: record.intervalSeconds,
    };
  }
}

export interface TokenRequestInput {
  grantType?: string | undefined;
  deviceCode?: string | undefined;
  clientId?: string | undefined;
}

/** The token response (RFC 6749 §5.1). */
export interface DeviceTokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  scope: string;
}

const details = (r: DeviceRequestRecord): Record<string, string> => {
  const out: Record<string, string> = { client: r.clientId };
  if (r.clientHost) out.host = r.clientHost;
  if (r.clientRepository) out.repository = r.clientRepository;
  return out;
};

/** POST /oauth/token with the device_code grant: one poll. */
export async function exchangeDeviceCode(
  deps: WalletDeps,
  input: TokenRequestInput,
  call: Call,
): Promise<DeviceTokenResponse> {
  if (!input.grantType) throw new OAuthError("invalid_request", "grant_type is required");
  if (input.grantType !== DEVICE_CODE_GRANT) {
    throw new OAuthError("unsupported_grant_type", `only ${DEVICE_CODE_GRANT} is supported`);
  }
  if (!input.deviceCode) throw new OAuthError("invalid_request", "device_code is required");
  const clientId = checkClientId(input.clientId);
  // A code we cannot have issued costs no store lookup.
  if (!DEVICE_CODE.test(input.deviceCode)) throw new OAuthError("invalid_grant", "unknown device_code");
  const now = nowOf(deps);
  const polled = await deps.store.deviceRequests.poll(hashSecret(input.deviceCode), now);
  if (!polled) throw new OAuthError("invalid_grant", "unknown device_code");
  const { request: r, tooSoon } = polled;
  if (r.clientId !== clientId) throw new OAuthError("invalid_grant", "the device_code was issued to another client");
  if (r.status === "used") throw new OAuthError("invalid_grant", "the device_code has already been used");
  if (r.status === "denied") throw new OAuthError("access_denied", "the sign-in was denied");
  if (r.status === "pending") {
    if (r.expiresAt <= now) throw new OAuthError("expired_token", "the device_code has expired; start again");
    if (tooSoon) throw new OAuthError("slow_down", `polling too fast; wait ${r.intervalSeconds} seconds between polls`);
    throw new OAuthError("authorization_pending", "waiting for the person to approve the sign-in");
  }
  // Approved: hand the token out once. The compare-and-set decides between concurrent polls.
  const grant = r.grant;
  const user = r.userId ? await deps.store.users.byId(r.userId) : undefined;
  if (!grant || !user || !r.decidedBy) throw new OAuthError("invalid_grant", "the sign-in is no longer valid");
  const tokenId = newId();
  if (!(await deps.store.deviceRequests.markUsed(r.id, tokenId))) {
    throw new OAuthError("invalid_grant", "the device_code has already been used");
  }
  const createdAt = new Date();
  const scope: AuditScope = { deps, call, userId: user.id, actor: r.decidedBy };
  const { record, secret } = await issueToken(
    scope,
    {
      name: r.tokenName,
      scopes: grant.scopes,
      providers: grant.providers,
      createdAt,
      expiresAt: new Date(createdAt.getTime() + grant.expiresInDays * DAY_MS),
      teamId: grant.teamId,
    },
    { ...details(r), via: "device" },
  );
  return {
    access_token: secret,
    token_type: "Bearer",
    expires_in: Math.floor((record.expiresAt.getTime() - createdAt.getTime()) / 1000),
    scope: record.scopes.join(" "),
  };
}

function deviceRequestMessage(r: DeviceRequestRecord, userCode: string): MessageInitShape<typeof DeviceRequestSchema> {
  return {
    userCode: formatUserCode(userCode),
    clientName: r.clientId,
    clientHost: r.clientHost,
    clientRepository: r.clientRepository,
    address: r.address,
    scopes: r.scopes,
    providers: r.providers,
    createdAt: timestampFromDate(r.createdAt),
    expiresAt: timestampFromDate(r.expiresAt),
    status: r.status,
    tokenName: r.tokenName,
  };
}

/**
 * The request behind a user code, for a signed-in person. An unknown code counts against the
 * session's and the address's allowance; once either is spent, resource_exhausted.
 */
async function lookUp(
  deps: WalletDeps,
  call: Call,
  p: Principal,
  text: string,
): Promise<{ request: DeviceRequestRecord; code: string }> {
  const bySession = `session:${p.session!.id}`;
  const byAddress = `address:${call.info.address}`;
  await refuseWhenSpent(deps.limits.deviceCodeGuessPerSession, bySession, "too many wrong codes");
  await refuseWhenSpent(deps.limits.deviceCodeGuessPerAddress, byAddress, "too many wrong codes");
  const code = normalizeUserCode(text);
  const request = code ? await deps.store.deviceRequests.byUserCodeHash(hashSecret(code)) : undefined;
  if (!code || !request) {
    await deps.limits.deviceCodeGuessPerSession.penalty(bySession, 1);
    await deps.limits.deviceCodeGuessPerAddress.penalty(byAddress, 1);
    throw notFound("no sign-in request has this code; check it, or start the sign-in again in the tool");
  }
  if (request.expiresAt <= nowOf(deps) && request.status === "pending") {
    throw notFound("this code has expired; start the sign-in again in the tool");
  }
  return { request, code };
}

function decided(r: DeviceRequestRecord): AppError {
  const what = r.status === "denied" ? "denied" : "approved";
  return new AppError("failed_precondition", `this sign-in was already ${what}`);
}

export async function getDeviceRequest(
  deps: WalletDeps,
  req: GetDeviceRequestRequest,
  call: Call,
): Promise<MessageInitShape<typeof GetDeviceRequestResponseSchema>> {
  const p = await requireSession(deps, call, "reviewing a device sign-in");
  const { request, code } = await lookUp(deps, call, p, req.userCode);
  // The request enters the person's log when they first see it (no one owned it before).
  if (request.status === "pending" && deps.limits.metadataAudit.due(`device.requested:${p.user.id}:${request.id}`)) {
    await recordAudit(auditScope(deps, call, p), "device.requested", deviceTarget(request), {
      ...details(request),
      requestedFrom: request.address,
      scopes: request.scopes.join(" "),
      providers: request.providers.join(" ") || "all",
    });
  }
  return { request: deviceRequestMessage(request, code) };
}

const deviceTarget = (r: DeviceRequestRecord) => ({ type: "device_request", id: r.id, name: r.clientId });

export async function approveDeviceRequest(
  deps: WalletDeps,
  req: ApproveDeviceRequestRequest,
  call: Call,
): Promise<MessageInitShape<typeof ApproveDeviceRequestResponseSchema>> {
  const p = await requireSession(deps, call, "approving a device sign-in");
  const { request, code } = await lookUp(deps, call, p, req.userCode);
  if (request.status !== "pending") throw decided(request);
  const scopes = req.scopes.length > 0 ? [...req.scopes] : request.scopes;
  const extraScope = scopes.find((s) => !request.scopes.includes(s));
  if (extraScope !== undefined) {
    throw invalidArgument(`scopes: the tool did not ask for ${extraScope}; an approval can only narrow`);
  }
  const providers = req.providers.length > 0 ? [...req.providers] : request.providers;
  if (request.providers.length > 0) {
    const extra = providers.find((x) => !request.providers.includes(x));
    if (extra !== undefined) {
      throw invalidArgument(`providers: the tool did not ask for ${extra}; an approval can only narrow`);
    }
  }
  // A team token: the approver must be a member (404 otherwise, as every team route); whether
  // the token reaches the team's keys is decided on each request by the membership then.
  const teamId = req.teamId || undefined;
  if (teamId !== undefined) await teamMembership(deps, p, teamId, "viewer");
  const grant = { scopes, providers, expiresInDays: req.expiresInDays || DEFAULT_TOKEN_DAYS, teamId };
  const now = nowOf(deps);
  const decidedBy = { type: "session", id: p.session!.id, name: p.user.email };
  const ok = await deps.store.deviceRequests.decide(
    request.id,
    { status: "approved", userId: p.user.id, decidedAt: now, decidedBy, grant },
    now,
  );
  if (!ok) {
    const latest = await deps.store.deviceRequests.byUserCodeHash(request.userCodeHash);
    if (latest && latest.status !== "pending") throw decided(latest);
    throw notFound("this code has expired; start the sign-in again in the tool");
  }
  await recordAudit(auditScope(deps, call, p), "device.approved", deviceTarget(request), {
    ...details(request),
    scopes: scopes.join(" "),
    providers: providers.join(" ") || "all",
    expiresInDays: String(grant.expiresInDays),
    ...(teamId ? { team: teamId } : {}),
  });
  return { request: deviceRequestMessage({ ...request, status: "approved" }, code) };
}

export async function denyDeviceRequest(
  deps: WalletDeps,
  req: DenyDeviceRequestRequest,
  call: Call,
): Promise<MessageInitShape<typeof DenyDeviceRequestResponseSchema>> {
  const p = await requireSession(deps, call, "denying a device sign-in");
  const { request, code } = await lookUp(deps, call, p, req.userCode);
  if (request.status !== "pending") throw decided(request);
  const now = nowOf(deps);
  const decidedBy = { type: "session", id: p.session!.id, name: p.user.email };
  const ok = await deps.store.deviceRequests.decide(
    request.id,
    { status: "denied", userId: p.user.id, decidedAt: now, decidedBy },
    now,
  );
  if (!ok) {
    const latest = await deps.store.deviceRequests.byUserCodeHash(request.userCodeHash);
    if (latest && latest.status !== "pending") throw decided(latest);
    throw notFound("this code has expired; start the sign-in again in the tool");
  }
  await recordAudit(auditScope(deps, call, p), "device.denied", deviceTarget(request), details(request));
  return { request: deviceRequestMessage({ ...request, status: "denied" }, code) };
}
