// Personal access tokens: created (secret shown once, SHA-256 stored), listed, revoked.
// A token that creates a token cannot give it more than it has: no extra scope, no wider
// provider list, no later expiry. Each token records its parent, and revoking a token revokes
// everything descended from it. A provider-limited token sees and revokes only tokens inside
// its own provider list.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { notFound, permissionDenied, unauthenticated } from "@cv-wallet/common/errors";
import type {
  CreateTokenRequest,
  CreateTokenResponseSchema,
  ListTokensResponseSchema,
  RevokeTokenRequest,
} from "@cv-wallet/proto/wallet/v1";
import { type AuditScope, auditScope, recordAudit, tokenTarget } from "./audit.ts";
import { requireAuth, requireScope } from "./auth.ts";
import type { Call, Principal } from "./context.ts";
import type { WalletDeps } from "./deps.ts";
import { assertId, newId } from "./ids.ts";
import { tokenMessage } from "./mappers.ts";
import type { TokenRecord } from "./ports/store.ts";
import { teamMembership } from "./teams.ts";
import { generateToken, hashSecret, tokenPrefix } from "./token-format.ts";

const DAY_MS = 86_400_000;

export async function createToken(
  deps: WalletDeps,
  req: CreateTokenRequest,
  call: Call,
): Promise<MessageInitShape<typeof CreateTokenResponseSchema>> {
  const p = await requireScope(deps, call, "tokens:write");
  const now = new Date();
  let expiresAt = new Date(now.getTime() + (req.expiresInDays || 90) * DAY_MS);
  if (p.method === "token") {
    const parent = p.token!;
    const extra = req.scopes.filter((s) => !p.scopes.has(s));
    if (extra.length > 0) throw permissionDenied(`a token cannot grant scopes it does not have: ${extra.join(", ")}`);
    if (parent.providers.length > 0) {
      const wider = req.providers.length === 0 || req.providers.some((x) => !parent.providers.includes(x));
      if (wider)
        throw permissionDenied(`this token is limited to ${parent.providers.join(", ")}; so is any it creates`);
    }
    if (expiresAt > parent.expiresAt) expiresAt = parent.expiresAt;
  }
  // ── team scope: a token scoped to a team the caller belongs to (404 otherwise, as every
  // team route); a token's child keeps the parent's team, and a personal token mints no team token ──
  const teamId = req.teamId || undefined;
  if (teamId !== undefined) await teamMembership(deps, p, teamId, "viewer");
  if (p.method === "token" && p.token!.teamId !== teamId) {
    throw permissionDenied(
      p.token!.teamId
        ? "a team token creates tokens for its own team only"
        : "a personal token cannot create a team token",
    );
  }
  // ── end team scope ──
  const { record, secret } = await issueToken(auditScope(deps, call, p), {
    name: req.name,
    scopes: [...req.scopes],
    providers: [...req.providers],
    createdAt: now,
    expiresAt,
    teamId,
    parentId: p.method === "token" ? p.token!.id : undefined,
  });
  if (record.parentId) {
    // The parent may have been revoked while this request ran: then its child goes with it.
    const parent = await deps.store.tokens.get(p.user.id, record.parentId);
    if (!parent || parent.revokedAt) {
      await deps.store.tokens.revoke(p.user.id, record.id, new Date());
      throw unauthenticated("the access token has been revoked");
    }
  }
  return { token: tokenMessage(record), secret };
}

/**
 * Creates a token for the scope's user and audits `token.created` (with `details`, e.g. the
 * device sign-in's client); every way of getting a token goes through here.
 */
export async function issueToken(
  scope: AuditScope,
  spec: Pick<TokenRecord, "name" | "scopes" | "providers" | "createdAt" | "expiresAt" | "parentId" | "teamId">,
  details: Record<string, string> = {},
): Promise<{ record: TokenRecord; secret: string }> {
  const secret = generateToken();
  const record: TokenRecord = {
    id: newId(),
    userId: scope.userId,
    hash: hashSecret(secret),
    prefix: tokenPrefix(secret),
    ...spec,
  };
  await scope.deps.store.tokens.create(record);
  await recordAudit(scope, "token.created", tokenTarget(record), {
    scopes: record.scopes.join(" "),
    providers: record.providers.join(" ") || "all",
    ...(record.teamId ? { team: record.teamId } : {}),
    ...details,
  });
  return { record, secret };
}

export async function listTokens(
  deps: WalletDeps,
  call: Call,
): Promise<MessageInitShape<typeof ListTokensResponseSchema>> {
  const p = await requireScope(deps, call, "tokens:write");
  const tokens = await deps.store.tokens.list(p.user.id);
  return { tokens: tokens.filter((t) => !t.revokedAt && within(p, t)).map(tokenMessage) };
}

/** A provider-limited caller manages only tokens limited to a subset of its own providers. */
function within(p: Principal, t: TokenRecord): boolean {
  if (p.providers.length === 0) return true;
  return t.providers.length > 0 && t.providers.every((x) => p.providers.includes(x));
}

export async function revokeToken(
  deps: WalletDeps,
  req: RevokeTokenRequest,
  call: Call,
): Promise<Record<string, never>> {
  const p = await requireScope(deps, call, "tokens:write");
  assertId(req.id);
  const token = await deps.store.tokens.get(p.user.id, req.id);
  if (!token || token.revokedAt || !within(p, token)) throw notFound("no such token");
  const revoked = await deps.store.tokens.revoke(p.user.id, req.id, new Date());
  if (revoked.length === 0) throw notFound("no such token");
  await recordAudit(auditScope(deps, call, p), "token.revoked", tokenTarget(token), {
    descendants_revoked: String(revoked.length - 1),
  });
  return {};
}

/** The calling token revokes itself (`cvw logout`): no scope needed, a session cannot. */
export async function revokeCurrentToken(deps: WalletDeps, call: Call): Promise<Record<string, never>> {
  const p = await requireAuth(deps, call);
  if (p.method !== "token" || !p.token) {
    throw permissionDenied("only an access token can revoke itself; a browser session signs out instead");
  }
  const revoked = await deps.store.tokens.revoke(p.user.id, p.token.id, new Date());
  if (revoked.length === 0) throw notFound("no such token");
  await recordAudit(auditScope(deps, call, p), "token.revoked", tokenTarget(p.token), {
    by: "itself",
    descendants_revoked: String(revoked.length - 1),
  });
  return {};
}
