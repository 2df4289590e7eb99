// API key records: the rules for storing, listing, changing, retrieving and checking keys.
// Plaintext is encrypted by the crypto service before anything is written and decrypted
// only for the two reads that return it (provider key, reveal), each counted and audited.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { invalidArgument, notFound, permissionDenied } from "@cv-wallet/common/errors";
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
  auditScope,
  keyTarget,
  recordAudit,
  SYSTEM_ACTOR,
  userTarget,
} from "./audit.ts";
import { limitKey, mayUseProvider, requireScope } from "./auth.ts";
import type { Call, Principal } from "./context.ts";
import type { WalletDeps } from "./deps.ts";
import { assertId, newId } from "./ids.ts";
import { consume } from "./limits.ts";
import { keyMessage } from "./mappers.ts";
import type { KeyListFilter, KeyPatch, KeyRecord, ValidationRecord } from "./ports/store.ts";
import { checkAndStore, checkOnSave } from "./validation.ts";

const DAY_MS = 86_400_000;
/** Keys expiring within this many days count as needing attention. */
export const ATTENTION_DAYS = 14;
const KEY_FIELD = "key";
const NOT_CHECKED: ValidationRecord = { status: "unverified", detail: "not checked yet" };

const last4 = (key: string) => key.slice(-4);

/** A key the caller owns and may touch, or not_found (never "exists but not yours"). */
async function ownedKey(deps: WalletDeps, p: Principal, id: string): Promise<KeyRecord> {
  assertId(id);
  const record = await deps.store.keys.get(p.user.id, id);
  if (!record || !mayUseProvider(p, record.provider)) throw notFound("no such key");
  return record;
}

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
): Promise<void> {
  const actor = actorOf(p);
  if (!deps.limits.metadataAudit.due(`${actor.type}:${actor.id}:${action}:${target.id}`)) return;
  await recordAudit({ deps, call, userId: p.user.id, actor }, action, target);
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
  const now = new Date();
  const filter: KeyListFilter = {
    provider: req.provider || undefined,
    providersIn: p.providers.length > 0 ? [...p.providers] : undefined,
    expiringBefore: req.expiringWithinDays ? new Date(now.getTime() + req.expiringWithinDays * DAY_MS) : undefined,
    needsAttentionBefore: req.needsAttention ? new Date(now.getTime() + ATTENTION_DAYS * DAY_MS) : undefined,
  };
  const page = await deps.store.keys.list(p.user.id, filter, req.pageSize || 100, req.pageToken || undefined);
  await auditMetadataRead(deps, p, call, "keys.listed", userTarget(p.user));
  return { keys: page.items.map((k) => keyMessage(k, now)), nextPageToken: page.next ?? "" };
}

export async function createKey(
  deps: WalletDeps,
  req: CreateKeyRequest,
  call: Call,
): Promise<MessageInitShape<typeof CreateKeyResponseSchema>> {
  const p = await requireScope(deps, call, "keys:write");
  if (!mayUseProvider(p, req.provider)) throw permissionDenied(`this access token may not use ${req.provider} keys`);
  const baseUrl = await checkBaseUrl(deps, req.provider, req.baseUrl);
  const id = newId();
  // Encrypt first: if the crypto service is down, nothing is written.
  const sealed = await deps.crypto.encrypt(p.user.id, id, KEY_FIELD, req.key);
  const now = new Date();
  const record: KeyRecord = {
    id,
    userId: p.user.id,
    provider: req.provider,
    name: req.name,
    ciphertext: sealed.ciphertext,
    keyVersion: sealed.keyVersion,
    last4: last4(req.key),
    baseUrl,
    expiresAt: req.expiresAt ? timestampDate(req.expiresAt) : undefined,
    // The first key of a provider becomes its default, so cv-git finds it without a name.
    isDefault: req.isDefault || !(await deps.store.keys.hasDefault(p.user.id, req.provider)),
    usageCount: 0,
    validation: NOT_CHECKED,
    createdAt: now,
    updatedAt: now,
  };
  await deps.store.keys.create(record);
  await recordAudit(auditScope(deps, call, p), "key.created", keyTarget(record), { provider: record.provider });
  if (req.validate) record.validation = (await checkOnSave(deps, record, req.key, actorOf(p), call)) ?? NOT_CHECKED;
  return { key: keyMessage(record, now), warnings: prefixWarnings(req.provider, req.key) };
}

export async function getKey(
  deps: WalletDeps,
  req: GetKeyRequest,
  call: Call,
): Promise<MessageInitShape<typeof GetKeyResponseSchema>> {
  const p = await requireScope(deps, call, "keys:read");
  const record = await ownedKey(deps, p, req.id);
  await auditMetadataRead(deps, p, call, "key.viewed", keyTarget(record));
  return { key: keyMessage(record) };
}

export async function updateKey(
  deps: WalletDeps,
  req: UpdateKeyRequest,
  call: Call,
): Promise<MessageInitShape<typeof UpdateKeyResponseSchema>> {
  const p = await requireScope(deps, call, "keys:write");
  const current = await ownedKey(deps, p, req.id);
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
    const sealed = await deps.crypto.encrypt(p.user.id, current.id, KEY_FIELD, req.key);
    patch.ciphertext = sealed.ciphertext;
    patch.keyVersion = sealed.keyVersion;
    patch.last4 = last4(req.key);
    // The previous check was of the previous secret.
    patch.validation = NOT_CHECKED;
    changed.push("key");
  }
  // The secret a requested check will use, read before anything is written: with the crypto
  // service down the update then fails whole (503) instead of half-applying.
  const toCheck = req.validate
    ? (req.key ?? (await deps.crypto.decrypt(p.user.id, current.id, KEY_FIELD, current.ciphertext)))
    : undefined;
  const updated = await deps.store.keys.update(p.user.id, current.id, patch);
  if (!updated) throw notFound("no such key");
  await recordAudit(auditScope(deps, call, p), "key.updated", keyTarget(updated), {
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
  const record = await ownedKey(deps, p, req.id);
  if (!(await deps.store.keys.delete(p.user.id, record.id))) throw notFound("no such key");
  await recordAudit(auditScope(deps, call, p), "key.deleted", keyTarget(record), { provider: record.provider });
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
  const plaintext = await deps.crypto.decrypt(p.user.id, record.id, KEY_FIELD, record.ciphertext);
  await deps.store.keys.recordUse(
    p.user.id,
    record.id,
    new Date(),
    auditEvent(auditScope(deps, call, p), kind === "provider" ? "key.retrieved" : "key.revealed", keyTarget(record), {
      provider: record.provider,
    }),
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
  await consume(deps.limits.retrievals, limitKey(p), "too many key retrievals; slow down");
  const record = await deps.store.keys.forProvider(p.user.id, req.provider, req.name || undefined);
  if (!record) throw notFound(req.name ? `no ${req.provider} key with that name` : `no ${req.provider} key stored`);
  return { key: await retrieve(deps, p, record, "provider", call) };
}

export async function revealKey(
  deps: WalletDeps,
  req: RevealKeyRequest,
  call: Call,
): Promise<MessageInitShape<typeof RevealKeyResponseSchema>> {
  const p = await requireScope(deps, call, "keys:read");
  const record = await ownedKey(deps, p, req.id);
  await consume(deps.limits.retrievals, limitKey(p), "too many key retrievals; slow down");
  return { key: await retrieve(deps, p, record, "reveal", call) };
}

export async function validateKey(
  deps: WalletDeps,
  req: ValidateKeyRequest,
  call: Call,
): Promise<MessageInitShape<typeof ValidateKeyResponseSchema>> {
  const p = await requireScope(deps, call, "keys:write");
  const record = await ownedKey(deps, p, req.id);
  const plaintext = await deps.crypto.decrypt(p.user.id, record.id, KEY_FIELD, record.ciphertext);
  record.validation = await checkAndStore(deps, record, plaintext, actorOf(p), call);
  return { key: keyMessage(record) };
}

export async function getKeyUsage(
  deps: WalletDeps,
  req: GetKeyUsageRequest,
  call: Call,
): Promise<MessageInitShape<typeof GetKeyUsageResponseSchema>> {
  const p = await requireScope(deps, call, "keys:read");
  const record = await ownedKey(deps, p, req.id);
  await auditMetadataRead(deps, p, call, "key.viewed", keyTarget(record));
  const days = req.days || 30;
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  const dayList = Array.from({ length: days }, (_, i) => utcDay(new Date(today - (days - 1 - i) * DAY_MS)));
  const counts = await deps.store.keys.usage(p.user.id, record.id, dayList[0]!, dayList.at(-1)!);
  return { days: dayList.map((date) => ({ date, count: BigInt(counts.get(date) ?? 0) })) };
}

/** For the scheduler: re-checks one due key as the system. */
export async function scheduledCheck(deps: WalletDeps, record: KeyRecord, actor: Actor = SYSTEM_ACTOR) {
  const plaintext = await deps.crypto.decrypt(record.userId, record.id, KEY_FIELD, record.ciphertext);
  return checkAndStore(deps, record, plaintext, actor);
}
