// Accounts and browser sessions: sign up, sign in (throttled per account and per address),
// sign out, who am I, and account deletion (tenant key destroyed first).
import { randomBytes } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type AppError, unauthenticated } from "@cv-wallet/common/errors";
import type {
  DeleteAccountRequest,
  GetCurrentUserResponseSchema,
  SignInRequest,
  SignInResponseSchema,
  SignUpRequest,
  SignUpResponseSchema,
} from "@cv-wallet/proto/wallet/v1";
import { auditScope, recordAudit, userTarget } from "./audit.ts";
import { assertSameOrigin, requireAuth, requireSession } from "./auth.ts";
import type { Call } from "./context.ts";
import type { WalletDeps } from "./deps.ts";
import { newId } from "./ids.ts";
import { consume } from "./limits.ts";
import { userMessage } from "./mappers.ts";
import { DUMMY_HASH_PROMISE, hashPassword, verifyPassword } from "./passwords.ts";
import type { UserRecord } from "./ports/store.ts";
import { prepareAccountDeletion } from "./teams.ts";
import { hashSecret } from "./token-format.ts";

const normalizeEmail = (email: string) => email.trim().toLowerCase();

async function startSession(deps: WalletDeps, call: Call, user: UserRecord): Promise<string> {
  const secret = randomBytes(32).toString("base64url");
  const now = new Date();
  const expiresAt = new Date(now.getTime() + deps.settings.sessionTtlMs);
  const id = newId();
  await deps.store.sessions.create({
    id,
    secretHash: hashSecret(secret),
    userId: user.id,
    createdAt: now,
    expiresAt,
    address: call.info.address,
    userAgent: call.info.userAgent.slice(0, 256),
    lastSeenAt: now,
  });
  call.cookie.set(secret, expiresAt);
  return id;
}

export async function signUp(
  deps: WalletDeps,
  req: SignUpRequest,
  call: Call,
): Promise<MessageInitShape<typeof SignUpResponseSchema>> {
  // A page on another site must not be able to sign a visitor into an account it controls.
  assertSameOrigin(deps, call.info, false);
  // Each sign-up costs a 19 MiB hash: limited per address (and hashing is queued process-wide).
  await consume(deps.limits.signUpsPerAddress, call.info.address, "too many sign-ups from this address");
  const user: UserRecord = {
    id: newId(),
    email: normalizeEmail(req.email),
    passwordHash: await hashPassword(req.password),
    createdAt: new Date(),
  };
  await deps.store.users.create(user);
  const sessionId = await startSession(deps, call, user);
  await recordAudit(
    { deps, call, userId: user.id, actor: { type: "session", id: sessionId, name: user.email } },
    "auth.signed_up",
    userTarget(user),
  );
  return { user: userMessage(user) };
}

/**
 * Checks the password under the login-protection scheme: consecutive failures per account
 * and address (reset on success) and failures per address per day. The attempt is counted
 * before the hash runs, so parallel guesses are limited like serial ones; a success gives the
 * points back. An attacker elsewhere fills only their own account+address counter, so the
 * owner can still sign in from their own address.
 */
export async function checkPassword(
  deps: WalletDeps,
  call: Call,
  email: string,
  password: string,
  /** The audit action for a wrong password (sign-in, password change, account deletion). */
  failedAction = "auth.sign_in_failed",
): Promise<UserRecord> {
  const { signInConsecutive, signInDaily } = deps.limits;
  const pairKey = `${email}|${call.info.address}`;
  const addressKey = call.info.address;
  const onRefused = (error: AppError, startsBlock: boolean) =>
    startsBlock ? noteLockout(deps, call, email, error) : Promise.resolve();
  await consume(signInDaily, addressKey, "too many failed sign-ins from this address", onRefused);
  try {
    await consume(signInConsecutive, pairKey, "too many failed sign-ins for this account", onRefused);
  } catch (error) {
    // Refused before any password check: not a failure to count against the address.
    await signInDaily.reward(addressKey, 1).catch(() => undefined);
    throw error;
  }
  const user = await deps.store.users.byEmail(email);
  // Verify against a dummy hash for unknown emails so the answer time does not tell them apart.
  const ok = await verifyPassword(password, user?.passwordHash ?? (await DUMMY_HASH_PROMISE));
  if (!user || !ok) {
    deps.logger.info({ address: call.info.address }, "failed sign-in");
    if (user) {
      await recordAudit(
        { deps, call, userId: user.id, actor: { type: "anonymous", id: "", name: "" } },
        failedAction,
        userTarget(user),
      );
    }
    throw unauthenticated("the email or password is wrong");
  }
  // Success: the consecutive count starts over and this attempt was not a failure.
  await Promise.all([signInConsecutive.delete(pairKey), signInDaily.reward(addressKey, 1)]);
  return user;
}

/** Lockouts are logged and audited once, when they begin, not on every refused attempt. */
async function noteLockout(deps: WalletDeps, call: Call, email: string, error: AppError): Promise<void> {
  deps.logger.info({ address: call.info.address, retryAfterSeconds: error.retryAfterSeconds }, "sign-in locked out");
  const user = await deps.store.users.byEmail(email);
  if (!user) return;
  await recordAudit(
    { deps, call, userId: user.id, actor: { type: "anonymous", id: "", name: "" } },
    "auth.sign_in_locked",
    userTarget(user),
    { retry_after_seconds: String(error.retryAfterSeconds ?? 0) },
  );
}

export async function signIn(
  deps: WalletDeps,
  req: SignInRequest,
  call: Call,
): Promise<MessageInitShape<typeof SignInResponseSchema>> {
  assertSameOrigin(deps, call.info, false);
  const user = await checkPassword(deps, call, normalizeEmail(req.email), req.password);
  const sessionId = await startSession(deps, call, user);
  await recordAudit(
    { deps, call, userId: user.id, actor: { type: "session", id: sessionId, name: user.email } },
    "auth.signed_in",
    userTarget(user),
  );
  return { user: userMessage(user) };
}

export async function signOut(deps: WalletDeps, call: Call): Promise<Record<string, never>> {
  const p = await requireSession(deps, call, "signing out");
  await deps.store.sessions.delete(p.session!.id);
  call.cookie.clear();
  await recordAudit(auditScope(deps, call, p), "auth.signed_out", userTarget(p.user));
  return {};
}

export async function currentUser(
  deps: WalletDeps,
  call: Call,
): Promise<MessageInitShape<typeof GetCurrentUserResponseSchema>> {
  const p = await requireAuth(deps, call);
  return {
    user: userMessage(p.user),
    authMethod: p.method,
    scopes: p.method === "token" ? [...p.scopes] : [],
  };
}

export async function deleteAccount(
  deps: WalletDeps,
  req: DeleteAccountRequest,
  call: Call,
): Promise<Record<string, never>> {
  const p = await requireSession(deps, call, "deleting the account");
  await checkPassword(deps, call, p.user.email, req.password, "auth.account_deletion_refused");
  // Teams: no team left without an owner; the teams the person is alone in go with the account.
  await prepareAccountDeletion(deps, p.user.id);
  // Shred first: if the crypto service is down nothing is deleted and the caller can retry;
  // once the tenant key is gone the ciphertexts are useless even if the delete below fails.
  const destroyed = await deps.crypto.destroyTenant(p.user.id);
  await deps.store.users.delete(p.user.id);
  call.cookie.clear();
  // The account's own audit log goes with it; the service log keeps the fact.
  deps.logger.info({ userId: p.user.id, versionsDestroyed: destroyed, address: call.info.address }, "account deleted");
  return {};
}
