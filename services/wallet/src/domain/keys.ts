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
import { prefixWarnings, providerById, providerOfKeyPrefix } from "../checks/registry.ts";
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
import { clientDetails } from "./clients.ts";
import type { Call, Principal } from "./context.ts";
import type { WalletDeps } from "./deps.ts";
import { newId } from "./ids.ts";
import { keyNameOf } from "./key-names.ts";
import { consume } from "./limits.ts";
import { keyMessage, toUint32 } from "./mappers.ts";
import type { KeyListFilter, KeyPatch, KeyRecord, ValidationRecord } from "./ports/store.ts";
import { keyForCaller, requestTeam, teamKeyAccess } from "./teams.ts";
import { checkAndStore, checkOnSave } from "./validation.ts";

const DAY_MS = 86_400_000;
/** Keys expiring within this many days count as needing attention. */
export const ATTENTION_DAYS = 14;
const KEY_FIELD = "key";
const NOT_CHECKED: ValidationRecord = { status: "unverified", detail: "not checked yet" };

const last4 = (key: string) => key.slice(-4);
const KEY_MIN = 8;
const KEY_MAX = 4096;

/**
 * The secret as pasted, without the spaces, tabs and line breaks around it (a masked field
 * hides them from the person). The request rule already refused whitespace inside the key.
 */
export function trimPastedKey(raw: string): string {
  const key = raw.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "");
  if (key.length < KEY_MIN) throw invalidArgument(`key: must be at least ${KEY_MIN} characters`);
  if (key.length > KEY_MAX) throw invalidArgument(`key: must be at most ${KEY_MAX} characters`);
  return key;
}

/** The provider the secret's prefix belongs to when it is not `provider` (custom takes any key). */
function prefixProviderOf(provider: string, key: string): string | undefined {
  if (provider === "custom") return undefined;
  const owner = providerOfKeyPrefix(key);
  return owner && owner.id !== provider ? owner.id : undefined;
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

/**
 * A saved base URL is checked for its form only (https, no credentials, a host, not a name or
 * address that is never allowed); its DNS answer and addresses are checked each time a request
 * is made to it, against the addresses the connection is pinned to.
 */
async function checkBaseUrl(deps: WalletDeps, provider: string, baseUrl: string): Promise<string | undefined> {
  if (provider !== "custom") {
    if (baseUrl !== "") throw invalidArgument("base_url: only keys of the custom provider have a base URL");
    return undefined;
  }
  if (baseUrl === "") throw invalidArgument("base_url: a custom provider key needs an https base URL");
  try {
    await deps.assertSafeBaseUrl(baseUrl);
  } catch (error) {
    if (error instanceof AppError && error.code === "invalid_argument") {
      throw invalidArgument(`base_url: ${error.message}`);
    }
    throw error;
  }
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
  const secret = trimPastedKey(req.key);
  const baseUrl = await checkBaseUrl(deps, req.provider, req.baseUrl);
  const id = newId();
  // Encrypt first: if the crypto service is down, nothing is written.
  const sealed = await seal(deps, { id, ...owner }, secret);
  const now = new Date();
  const record: KeyRecord = {
    id,
    ...owner,
    provider: req.provider,
    name: req.name,
    ciphertext: sealed.ciphertext,
    keyVersion: sealed.keyVersion,
    last4: last4(secret),
    baseUrl,
    expiresAt: req.expiresAt ? timestampDate(req.expiresAt) : undefined,
    // The first key of a provider becomes its default, so cv-git finds it without a name.
    isDefault: req.isDefault || !(await deps.store.keys.hasDefault(owner.userId, req.provider)),
    usageCount: 0,
    prefixProvider: prefixProviderOf(req.provider, secret),
    revealCount: 0,
    validation: NOT_CHECKED,
    createdAt: now,
    updatedAt: now,
  };
  await deps.store.keys.create(record);
  await recordAudit(keyAuditScope(deps, call, p, record), "key.created", keyTarget(record), {
    provider: record.provider,
  });
  if (req.validate) record.validation = (await checkOnSave(deps, record, secret, actorOf(p), call)) ?? NOT_CHECKED;
  return { key: keyMessage(record, now), warnings: prefixWarnings(req.provider, secret) };
}

export async function getKey(
  deps: WalletDeps,
  req: GetKeyRequest,
  call: Call,
): Promise<MessageInitShape<typeof GetKeyResponseSchema>> {
  const p = await requireScope(deps, call, "keys:read");
  const record = await keyForCaller(deps, p, req.id, "viewer");
  await auditMetadataRead(deps, p, call, "key.viewed", keyTarget(record), record.teamId);
  return { key: keyMessage(record) };
}

export async function updateKey(
  deps: WalletDeps,
  req: UpdateKeyRequest,
  call: Call,
): Promise<MessageInitShape<typeof UpdateKeyResponseSchema>> {
  const p = await requireScope(deps, call, "keys:write");
  const current = await keyForCaller(deps, p, req.id, "admin");
  const secret = req.key === undefined ? undefined : trimPastedKey(req.key);
  const patch: KeyPatch = { updatedAt: new Date() };
  const changed: string[] = [];
  const provider = req.provider ?? current.provider;
  const moved = provider !== current.provider;
  if (moved) {
    // A token limited to some providers may neither take a key out of them nor put one in.
    if (!mayUseProvider(p, provider)) throw permissionDenied(`this access token may not use ${provider} keys`);
    patch.provider = provider;
    changed.push("provider");
  }
  if (req.name !== undefined && req.name !== current.name) {
    patch.name = req.name;
    changed.push("name");
  }
  if (req.baseUrl !== undefined || moved) {
    // A move to custom needs a base URL; a move away from custom drops it.
    const wanted = req.baseUrl ?? (provider === "custom" ? (current.baseUrl ?? "") : "");
    const baseUrl = (await checkBaseUrl(deps, provider, wanted)) ?? null;
    if (baseUrl !== (current.baseUrl ?? null)) {
      patch.baseUrl = baseUrl;
      changed.push("baseUrl");
    }
  }
  // Only a real change: a new expiry re-arms the key's expiry reminders (the edit dialog sends
  // the date it shows back unchanged).
  if (req.clearExpiresAt) {
    if (current.expiresAt !== undefined) {
      patch.expiresAt = null;
      changed.push("expiresAt");
    }
  } else if (req.expiresAt) {
    const expiresAt = timestampDate(req.expiresAt);
    if (expiresAt.getTime() !== current.expiresAt?.getTime()) {
      patch.expiresAt = expiresAt;
      changed.push("expiresAt");
    }
  }
  if (moved) {
    // Among the new provider's keys this one is the default when asked to be, or when it was
    // the old provider's default and the new provider has none. The old provider is left
    // without a default rather than one being picked for it silently (retrievals by provider
    // then get its newest key until the owner makes one the default).
    const isDefault =
      req.isDefault ?? (current.isDefault && !(await deps.store.keys.hasDefault(current.userId, provider)));
    patch.isDefault = isDefault;
    if (isDefault !== current.isDefault) changed.push("isDefault");
  } else if (req.isDefault !== undefined && req.isDefault !== current.isDefault) {
    patch.isDefault = req.isDefault;
    changed.push("isDefault");
  }
  if (secret !== undefined) {
    const sealed = await seal(deps, current, secret);
    patch.ciphertext = sealed.ciphertext;
    patch.keyVersion = sealed.keyVersion;
    patch.last4 = last4(secret);
    patch.prefixProvider = prefixProviderOf(provider, secret) ?? null;
    changed.push("key");
  } else if (moved) {
    // The stored secret's prefix against the new provider: decrypted here, never stored.
    const stored = await unseal(deps, current);
    patch.prefixProvider = prefixProviderOf(provider, stored) ?? null;
  }
  // Who the key is checked against changed: the previous result no longer applies.
  const recheck = secret !== undefined || moved || changed.includes("baseUrl");
  if (recheck) patch.validation = NOT_CHECKED;
  // A check runs only for what it can judge (a new secret, provider or base URL); a metadata
  // edit keeps the last result. The secret is read before anything is written: with the
  // crypto service down the update then fails whole (503) instead of half-applying.
  const toCheck = req.validate && recheck ? (secret ?? (await unseal(deps, current))) : undefined;
  const updated = await deps.store.keys.update(current.userId, current.id, patch);
  if (!updated) throw notFound("no such key");
  await recordAudit(keyAuditScope(deps, call, p, updated), "key.updated", keyTarget(updated), {
    provider: updated.provider,
    ...(moved ? { previousProvider: current.provider } : {}),
    fields: changed.join(" "),
  });
  if (toCheck !== undefined) {
    updated.validation = (await checkOnSave(deps, updated, toCheck, actorOf(p), call)) ?? updated.validation;
  }
  const warnings = secret !== undefined ? prefixWarnings(updated.provider, secret) : [];
  if (secret === undefined && moved && updated.prefixProvider) {
    const owner = providerById(updated.prefixProvider);
    warnings.push(
      `This key starts like a ${owner?.displayName ?? updated.prefixProvider} key; it is now saved as ${providerById(updated.provider)?.displayName ?? updated.provider}. Check the provider.`,
    );
  }
  return { key: keyMessage(updated), warnings };
}

export async function deleteKey(deps: WalletDeps, req: DeleteKeyRequest, call: Call): Promise<Record<string, never>> {
  const p = await requireScope(deps, call, "keys:write");
  const record = await keyForCaller(deps, p, req.id, "admin");
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
  const event = auditEvent(
    keyAuditScope(deps, call, p, record),
    kind === "provider" ? "key.retrieved" : "key.revealed",
    keyTarget(record),
    { provider: record.provider, ...clientDetails(call.info) },
  );
  // Usage means tools: a retrieval counts (by token), a reveal to the owner is counted apart.
  if (kind === "provider") await deps.store.keys.recordUse(record.userId, record.id, new Date(), event, p.token?.id);
  else await deps.store.keys.recordReveal(record.userId, record.id, new Date(), event);
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
  await consume(deps.limits.retrievals, limitKey(p), "too many key retrievals; slow down");
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
  const record = await keyForCaller(deps, p, req.id, "member");
  await consume(deps.limits.retrievals, limitKey(p), "too many key retrievals; slow down");
  return { key: await retrieve(deps, p, record, "reveal", call) };
}

export async function validateKey(
  deps: WalletDeps,
  req: ValidateKeyRequest,
  call: Call,
): Promise<MessageInitShape<typeof ValidateKeyResponseSchema>> {
  const p = await requireScope(deps, call, "keys:write");
  const record = await keyForCaller(deps, p, req.id, "admin");
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
  const record = await keyForCaller(deps, p, req.id, "viewer");
  await auditMetadataRead(deps, p, call, "key.viewed", keyTarget(record), record.teamId);
  const days = req.days || 30;
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  const dayList = Array.from({ length: days }, (_, i) => utcDay(new Date(today - (days - 1 - i) * DAY_MS)));
  const usage = await deps.store.keys.usage(record.userId, record.id, dayList[0]!, dayList.at(-1)!);
  const tokenIds = new Set([...usage.values()].flatMap((d) => Object.keys(d.byToken)));
  // Token names are shown for the caller's own tokens; a team key's other members' stay unnamed.
  const names = new Map<string, string>();
  for (const tokenId of tokenIds) names.set(tokenId, (await deps.store.tokens.get(p.user.id, tokenId))?.name ?? "");
  return {
    days: dayList.map((date) => {
      const day = usage.get(date);
      const n = day?.retrievals ?? 0;
      const tokens = Object.entries(day?.byToken ?? {})
        .map(([tokenId, count]) => ({ tokenId, tokenName: names.get(tokenId) ?? "", retrievals: toUint32(count) }))
        .sort((a, b) => b.retrievals - a.retrievals || a.tokenId.localeCompare(b.tokenId));
      return { date, count: BigInt(n), retrievals: toUint32(n), reveals: toUint32(day?.reveals ?? 0), tokens };
    }),
  };
}

/** For the scheduler: re-checks one due key as the system. */
export async function scheduledCheck(deps: WalletDeps, record: KeyRecord, actor: Actor = SYSTEM_ACTOR) {
  const plaintext = await unseal(deps, record);
  return checkAndStore(deps, record, plaintext, actor);
}
