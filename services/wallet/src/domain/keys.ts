// API key records: the rules for storing, listing, changing, retrieving and checking keys.
// Plaintext is encrypted by the crypto service before anything is written and decrypted
// only for the two reads that return it (provider key, reveal), each counted and audited.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AppError, invalidArgument, notFound, permissionDenied } from "@cv-wallet/common/errors";
import type {
  CreateKeyRequest,
  CreateKeyResponseSchema,
  DeleteKeyRequest,
  GetKeyRequest,
  GetKeyResponseSchema,
  GetKeyUsageRequest,
  GetKeyUsageResponseSchema,
  GetProviderKeyRequest,
  GetProviderKeyResponseSchema,
  ListKeysRequest,
  ListKeysResponseSchema,
  RevealKeyRequest,
  RevealKeyResponseSchema,
  UpdateKeyRequest,
  UpdateKeyResponseSchema,
  ValidateKeyRequest,
  ValidateKeyResponseSchema,
} from "@cv-wallet/proto/wallet/v1";
import { prefixWarnings } from "../checks/registry.ts";
import { utcDay } from "../store/cursor.ts";
import {
  type Actor,
  actorOf,
  auditEvent,
  keyAuditScope,
  keyTarget,
  recordAudit,
  SYSTEM_ACTOR,
  teamTarget,
  userTarget,
} from "./audit.ts";
import { limitKey, mayUseProvider, requireScope } from "./auth.ts";
import type { Call, Principal } from "./context.ts";
import type { WalletDeps } from "./deps.ts";
import { assertId, newId } from "./ids.ts";
import { keyNameOf } from "./key-names.ts";
import { keyMessage, toUint32 } from "./mappers.ts";
import type { KeyListFilter, KeyPatch, KeyRecord, TeamRole, ValidationRecord } from "./ports/store.ts";
import { requestTeam, teamKeyAccess } from "./teams.ts";
import { checkAndStore, checkOnSave } from "./validation.ts";

const DAY_MS = 86_400_000;
/** Keys expiring within this many days count as needing attention. */
export const ATTENTION_DAYS = 14;
const KEY_FIELD = "key";
const NOT_CHECKED: ValidationRecord = { status: "unverified", detail: "not checked yet" };

const last4 = (key: string) => key.slice(-4);

/**
 * A key the caller may touch, or not_found (never "exists but not yours"): one of the
 * caller's own (not through a team token), or a key of a team the caller belongs to with at
 * least the role `need` (membership read now; see teams.ts for 404 vs 403).
 */
async function ownedKey(deps: WalletDeps, p: Principal, id: string, need: TeamRole): Promise<KeyRecord> {
  assertId(id);
  const record = await deps.store.keys.byId(id);
  if (!record || !mayUseProvider(p, record.provider)) throw notFound("no such key");
  if (record.teamId === undefined) {
    if (record.userId !== p.user.id || p.token?.teamId !== undefined) throw notFound("no such key");
    return record;
  }
  try {
    await teamKeyAccess(deps, p, record.teamId, need);
  } catch (error) {
    // A key of a team the caller is not in does not exist for the caller.
    if (error instanceof AppError && error.code === "not_found") throw notFound("no such key");
    throw error;
  }
  return record;
}

/** Encrypts a key record's secret under its owner's key (the team's for a team key). */
const seal = (
  deps: WalletDeps,
  record: { id: string; userId: string; teamId?: string | undefined },
  plaintext: string,
) => deps.crypto.encryptUnder(keyNameOf(record), record.id, KEY_FIELD, plaintext);
const unseal = (deps: WalletDeps, record: KeyRecord) =>
  deps.crypto.decryptUnder(keyNameOf(record), record.id, KEY_FIELD, record.ciphertext);

/**
 * Metadata reads are audited differently from plaintext reads: `keys.listed` / `key.viewed`,
 * at most once an hour per actor and record, so browsing does not drown the log.
 */
async function auditMetadataRead(
  deps: WalletDeps,
  p: Principal,
  call: Call,
  action: "keys.listed" | "key.viewed",
  target: { type: string; id: string; name: string },
  teamId?: string | undefined,
): Promise<void> {
  const actor = actorOf(p);
  if (!deps.limits.metadataAudit.due(`${actor.type}:${actor.id}:${action}:${target.id}`)) return;
  await recordAudit(keyAuditScope(deps, call, p, { teamId }), action, target);
}

async function checkBaseUrl(deps: WalletDeps, provider: string, baseUrl: string): Promise<string | undefined> {
  if (provider !== "custom") {
    if (baseUrl !== "") throw invalidArgument("base_url: only keys of the custom provider have a base URL");
    return undefined;
  }
  if (baseUrl === "") throw invalidArgument("base_url: a custom provider key needs an https base URL");
  await deps.assertSafeBaseUrl(baseUrl);
  return baseUrl.replace(/\/+$/, "");
}

export async function listKeys(
  deps: WalletDeps,
  req: ListKeysRequest,
  call: Call,
): Promise<MessageInitShape<typeof ListKeysResponseSchema>> {
  const p = await requireScope(deps, call, "keys:read");
  // ── team scope: the team named (or a team token's own); viewers and up see its keys ──
  const teamId = requestTeam(p, req.teamId);
  if (teamId !== undefined) await teamKeyAccess(deps, p, teamId, "viewer");
  const owner = teamId ?? p.user.id;
  const now = new Date();
  const filter: KeyListFilter = {
    provider: req.provider || undefined,
    providersIn: p.providers.length > 0 ? [...p.providers] : undefined,
    expiringBefore: req.expiringWithinDays ? new Date(now.getTime() + req.expiringWithinDays * DAY_MS) : undefined,
    needsAttentionBefore: req.needsAttention ? new Date(now.getTime() + ATTENTION_DAYS * DAY_MS) : undefined,
  };
  const page = await deps.store.keys.list(owner, filter, req.pageSize || 100, req.pageToken || undefined);
  const target = teamId !== undefined ? teamTarget({ id: teamId, name: "" }) : userTarget(p.user);
  await auditMetadataRead(deps, p, call, "keys.listed", target, teamId);
  return { keys: page.items.map((k) => keyMessage(k, now)), nextPageToken: page.next ?? "" };
}

export async function createKey(
  deps: WalletDeps,
  req: CreateKeyRequest,
  call: Call,
): Promise<MessageInitShape<typeof CreateKeyResponseSchema>> {
  const p = await requireScope(deps, call, "keys:write");
  if (!mayUseProvider(p, req.provider)) throw permissionDenied(`this access token may not use ${req.provider} keys`);
  // ── team scope: a team key is stored by an admin and up and belongs to the team ──
  const teamId = requestTeam(p, req.teamId);
  if (teamId !== undefined) await teamKeyAccess(deps, p, teamId, "admin");
  const owner = { userId: teamId ?? p.user.id, teamId };
  const baseUrl = await checkBaseUrl(deps, req.provider, req.baseUrl);
  const id = newId();
  // Encrypt first: if the crypto service is down, nothing is written.
  const sealed = await seal(deps, { id, ...owner }, req.key);
  const now = new Date();
  const record: KeyRecord = {
    id,
    ...owner,
    provider: req.provider,
    name: req.name,
    ciphertext: sealed.ciphertext,
    keyVersion: sealed.keyVersion,
    last4: last4(req.key),
    baseUrl,
    expiresAt: req.expiresAt ? timestampDate(req.expiresAt) : undefined,
    // The first key of a provider becomes its default, so cv-git finds it without a name.
    isDefault: req.isDefault || !(await deps.store.keys.hasDefault(owner.userId, req.provider)),
    usageCount: 0,
    validation: NOT_CHECKED,
    createdAt: now,
    updatedAt: now,
  };
  await deps.store.keys.create(record);
  await recordAudit(keyAuditScope(deps, call, p, record), "key.created", keyTarget(record), {
    provider: record.provider,
  });
  if (req.validate) record.validation = (await checkOnSave(deps, record, req.key, actorOf(p), call)) ?? NOT_CHECKED;
  return { key: keyMessage(record, now), warnings: prefixWarnings(req.provider, req.key) };
}

export async function getKey(
  deps: WalletDeps,
  req: GetKeyRequest,
  call: Call,
): Promise<MessageInitShape<typeof GetKeyResponseSchema>> {
  const p = await requireScope(deps, call, "keys:read");
  const record = await ownedKey(deps, p, req.id, "viewer");
  await auditMetadataRead(deps, p, call, "key.viewed", keyTarget(record), record.teamId);
  return { key: keyMessage(record) };
}

export async function updateKey(
  deps: WalletDeps,
  req: UpdateKeyRequest,
  call: Call,
): Promise<MessageInitShape<typeof UpdateKeyResponseSchema>> {
  const p = await requireScope(deps, call, "keys:write");
  const current = await ownedKey(deps, p, req.id, "admin");
  const patch: KeyPatch = { updatedAt: new Date() };
  const changed: string[] = [];
  if (req.name !== undefined && req.name !== current.name) {
    patch.name = req.name;
    changed.push("name");
  }
  if (req.baseUrl !== undefined) {
    patch.baseUrl = (await checkBaseUrl(deps, current.provider, req.baseUrl)) ?? null;
    changed.push("baseUrl");
  }
  if (req.clearExpiresAt) {
    patch.expiresAt = null;
    changed.push("expiresAt");
  } else if (req.expiresAt) {
    patch.expiresAt = timestampDate(req.expiresAt);
    changed.push("expiresAt");
  }
  if (req.isDefault !== undefined && req.isDefault !== current.isDefault) {
    patch.isDefault = req.isDefault;
    changed.push("isDefault");
  }
  if (req.key !== undefined) {
    const sealed = await seal(deps, current, req.key);
    patch.ciphertext = sealed.ciphertext;
    patch.keyVersion = sealed.keyVersion;
    patch.last4 = last4(req.key);
    // The previous check was of the previous secret.
    patch.validation = NOT_CHECKED;
    changed.push("key");
  }
  // The secret a requested check will use, read before anything is written: with the crypto
  // service down the update then fails whole (503) instead of half-applying.
  const toCheck = req.validate ? (req.key ?? (await unseal(deps, current))) : undefined;
  const updated = await deps.store.keys.update(current.userId, current.id, patch);
  if (!updated) throw notFound("no such key");
  await recordAudit(keyAuditScope(deps, call, p, updated), "key.updated", keyTarget(updated), {
    provider: updated.provider,
    fields: changed.join(" "),
  });
  if (toCheck !== undefined) {
    updated.validation = (await checkOnSave(deps, updated, toCheck, actorOf(p), call)) ?? updated.validation;
  }
  return { key: keyMessage(updated), warnings: req.key === undefined ? [] : prefixWarnings(updated.provider, req.key) };
}

export async function deleteKey(deps: WalletDeps, req: DeleteKeyRequest, call: Call): Promise<Record<string, never>> {
  const p = await requireScope(deps, call, "keys:write");
  const record = await ownedKey(deps, p, req.id, "admin");
  if (!(await deps.store.keys.delete(record.userId, record.id))) throw notFound("no such key");
  await recordAudit(keyAuditScope(deps, call, p, record), "key.deleted", keyTarget(record), {
    provider: record.provider,
  });
  return {};
}

/** Decrypts, then counts the use and audits it; a failed decrypt counts nothing. */
async function retrieve(
  deps: WalletDeps,
  p: Principal,
  record: KeyRecord,
  kind: "provider" | "reveal",
  call: Call,
): Promise<string> {
  const plaintext = await unseal(deps, record);
  await deps.store.keys.recordUse(
    record.userId,
    record.id,
    new Date(),
    auditEvent(
      keyAuditScope(deps, call, p, record),
      kind === "provider" ? "key.retrieved" : "key.revealed",
      keyTarget(record),
      {
        provider: record.provider,
      },
    ),
  );
  deps.onRetrieval?.(record.provider, kind);
  return plaintext;
}

export async function getProviderKey(
  deps: WalletDeps,
  req: GetProviderKeyRequest,
  call: Call,
): Promise<MessageInitShape<typeof GetProviderKeyResponseSchema>> {
  const p = await requireScope(deps, call, "keys:read");
  if (!mayUseProvider(p, req.provider)) throw permissionDenied(`this access token may not read ${req.provider} keys`);
  // ── team scope: a team token resolves among its team's keys (members and up) ──
  const teamId = p.token?.teamId;
  if (teamId !== undefined) await teamKeyAccess(deps, p, teamId, "member");
  deps.limits.retrievals.take(limitKey(p));
  const record = await deps.store.keys.forProvider(teamId ?? p.user.id, req.provider, req.name || undefined);
  if (!record) throw notFound(req.name ? `no ${req.provider} key with that name` : `no ${req.provider} key stored`);
  return { key: await retrieve(deps, p, record, "provider", call) };
}

export async function revealKey(
  deps: WalletDeps,
  req: RevealKeyRequest,
  call: Call,
): Promise<MessageInitShape<typeof RevealKeyResponseSchema>> {
  const p = await requireScope(deps, call, "keys:read");
  const record = await ownedKey(deps, p, req.id, "member");
  deps.limits.retrievals.take(limitKey(p));
  return { key: await retrieve(deps, p, record, "reveal", call) };
}

export async function validateKey(
  deps: WalletDeps,
  req: ValidateKeyRequest,
  call: Call,
): Promise<MessageInitShape<typeof ValidateKeyResponseSchema>> {
  const p = await requireScope(deps, call, "keys:write");
  const record = await ownedKey(deps, p, req.id, "admin");
  const plaintext = await unseal(deps, record);
  record.validation = await checkAndStore(deps, record, plaintext, actorOf(p), call);
  return { key: keyMessage(record) };
}

export async function getKeyUsage(
  deps: WalletDeps,
  req: GetKeyUsageRequest,
  call: Call,
): Promise<MessageInitShape<typeof GetKeyUsageResponseSchema>> {
  const p = await requireScope(deps, call, "keys:read");
  const record = await ownedKey(deps, p, req.id, "viewer");
  await auditMetadataRead(deps, p, call, "key.viewed", keyTarget(record), record.teamId);
  const days = req.days || 30;
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  const dayList = Array.from({ length: days }, (_, i) => utcDay(new Date(today - (days - 1 - i) * DAY_MS)));
  const counts = await deps.store.keys.usage(record.userId, record.id, dayList[0]!, dayList.at(-1)!);
  return {
    days: dayList.map((date) => {
      const n = counts.get(date) ?? 0;
      return { date, count: BigInt(n), retrievals: toUint32(n) };
    }),
  };
}

/** For the scheduler: re-checks one due key as the system. */
export async function scheduledCheck(deps: WalletDeps, record: KeyRecord, actor: Actor = SYSTEM_ACTOR) {
  const plaintext = await unseal(deps, record);
  return checkAndStore(deps, record, plaintext, actor);
}
