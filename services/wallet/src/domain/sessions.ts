// Browser sessions a person can manage: see where they are signed in, end one session or all
// the others, and change the password (which ends the other sessions). Session only: a token
// cannot list or end browser sessions.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { notFound } from "@cv-wallet/common/errors";
import type {
  ChangePasswordRequest,
  ChangePasswordResponseSchema,
  ListSessionsResponseSchema,
  RevokeOtherSessionsResponseSchema,
  RevokeSessionRequest,
} from "@cv-wallet/proto/wallet/v1";
import { checkPassword } from "./accounts.ts";
import { auditScope, recordAudit, userTarget } from "./audit.ts";
import { requireSession } from "./auth.ts";
import type { Call } from "./context.ts";
import type { WalletDeps } from "./deps.ts";
import { deviceOf } from "./devices.ts";
import { assertId } from "./ids.ts";
import { sessionMessage } from "./mappers.ts";
import { hashPassword } from "./passwords.ts";

const sessionTarget = (s: { id: string; userAgent?: string | undefined }) => ({
  type: "session",
  id: s.id,
  name: deviceOf(s.userAgent),
});

export async function listSessions(
  deps: WalletDeps,
  call: Call,
): Promise<MessageInitShape<typeof ListSessionsResponseSchema>> {
  const p = await requireSession(deps, call, "listing sessions");
  const sessions = await deps.store.sessions.listByUser(p.user.id, new Date());
  return { sessions: sessions.map((s) => sessionMessage(s, s.id === p.session!.id)) };
}

export async function revokeSession(
  deps: WalletDeps,
  req: RevokeSessionRequest,
  call: Call,
): Promise<Record<string, never>> {
  const p = await requireSession(deps, call, "ending a session");
  assertId(req.id);
  const target = (await deps.store.sessions.listByUser(p.user.id, new Date())).find((s) => s.id === req.id);
  if (!target || !(await deps.store.sessions.deleteOwned(p.user.id, req.id))) throw notFound("no such session");
  if (req.id === p.session!.id) call.cookie.clear();
  await recordAudit(auditScope(deps, call, p), "session.revoked", sessionTarget(target));
  return {};
}

export async function revokeOtherSessions(
  deps: WalletDeps,
  call: Call,
): Promise<MessageInitShape<typeof RevokeOtherSessionsResponseSchema>> {
  const p = await requireSession(deps, call, "ending sessions");
  const revoked = await deps.store.sessions.deleteOthers(p.user.id, p.session!.id);
  await recordAudit(auditScope(deps, call, p), "session.others_revoked", userTarget(p.user), {
    sessions_ended: String(revoked),
  });
  return { revoked };
}

export async function changePassword(
  deps: WalletDeps,
  req: ChangePasswordRequest,
  call: Call,
): Promise<MessageInitShape<typeof ChangePasswordResponseSchema>> {
  const p = await requireSession(deps, call, "changing the password");
  // The same throttled check as sign-in: a stolen session cannot brute-force the password here.
  await checkPassword(deps, call, p.user.email, req.currentPassword, "auth.password_change_refused");
  await deps.store.users.setPasswordHash(p.user.id, await hashPassword(req.newPassword));
  // Whoever else was signed in (perhaps the reason for the change) is signed out.
  const ended = await deps.store.sessions.deleteOthers(p.user.id, p.session!.id);
  await recordAudit(auditScope(deps, call, p), "auth.password_changed", userTarget(p.user), {
    sessions_ended: String(ended),
  });
  return { sessionsEnded: ended };
}
