// Audit events: who did what to which record, from where. Details hold only non-secret
// facts (provider, status, scopes); names are the owner's own labels.

import type { Call, Principal } from "./context.ts";
import type { WalletDeps } from "./deps.ts";
import { newId } from "./ids.ts";
import type { AuditRecord } from "./ports/store.ts";

export type Actor = AuditRecord["actor"];
export type Target = AuditRecord["target"];

export const SYSTEM_ACTOR: Actor = { type: "system", id: "scheduler", name: "scheduled validation" };

export function actorOf(p: Principal): Actor {
  return p.method === "token"
    ? { type: "token", id: p.token!.id, name: p.token!.name }
    : { type: "session", id: p.session!.id, name: p.user.email };
}

/** Whose log an event goes to, who acted, and the request it came with (none for the scheduler). */
export interface AuditScope {
  deps: WalletDeps;
  call?: Call | undefined;
  userId: string;
  /** Set for a team's log: the event is the team's (userId is then the team's id too). */
  teamId?: string | undefined;
  actor: Actor;
}

/** The scope of an authenticated request: the principal's own log, the principal as actor. */
export function auditScope(deps: WalletDeps, call: Call, p: Principal): AuditScope {
  return { deps, call, userId: p.user.id, actor: actorOf(p) };
}

export const userTarget = (u: { id: string; email: string }): Target => ({ type: "user", id: u.id, name: u.email });
export const keyTarget = (k: { id: string; name: string }): Target => ({ type: "key", id: k.id, name: k.name });
export const tokenTarget = (t: { id: string; name: string }): Target => ({ type: "token", id: t.id, name: t.name });

/** A team's log, the principal as actor with the person behind it (who fetched, who removed whom). */
export function teamAuditScope(deps: WalletDeps, call: Call, p: Principal, teamId: string): AuditScope {
  return { deps, call, userId: teamId, teamId, actor: { ...actorOf(p), userId: p.user.id } };
}

/** The log a key's events go to: its team's for a team key, else the principal's own. */
export function keyAuditScope(
  deps: WalletDeps,
  call: Call,
  p: Principal,
  record: { teamId?: string | undefined },
): AuditScope {
  return record.teamId !== undefined ? teamAuditScope(deps, call, p, record.teamId) : auditScope(deps, call, p);
}

export const teamTarget = (t: { id: string; name: string }): Target => ({ type: "team", id: t.id, name: t.name });
export const invitationTarget = (i: { id: string; email: string }): Target => ({
  type: "invitation",
  id: i.id,
  name: i.email,
});

/** Appends one event to the audit log. */
export async function recordAudit(
  scope: AuditScope,
  action: string,
  target: Target,
  details?: Record<string, string>,
): Promise<void> {
  await scope.deps.store.audit.append(auditEvent(scope, action, target, details));
}

/** The stored form of an event, stamped now, with the caller's address and user agent. */
export function auditEvent(
  scope: AuditScope,
  action: string,
  target: Target,
  details?: Record<string, string>,
): AuditRecord {
  return {
    id: newId(),
    userId: scope.userId,
    ...(scope.teamId !== undefined ? { teamId: scope.teamId } : {}),
    action,
    actor: scope.actor,
    target,
    time: new Date(),
    address: scope.call?.info.address ?? "",
    userAgent: (scope.call?.info.userAgent ?? "").slice(0, 256),
    details: details ?? {},
  };
}
