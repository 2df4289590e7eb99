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

export interface AuditEntry {
  userId: string;
  action: string;
  actor: Actor;
  target: Target;
  details?: Record<string, string>;
}

export async function audit(deps: WalletDeps, entry: AuditEntry, call?: Call): Promise<void> {
  await deps.store.audit.append(auditRecord(entry, call));
}

/** The stored form of an entry, stamped now, with the caller's address and user agent. */
export function auditRecord(entry: AuditEntry, call?: Call): AuditRecord {
  return {
    id: newId(),
    userId: entry.userId,
    action: entry.action,
    actor: entry.actor,
    target: entry.target,
    time: new Date(),
    address: call?.info.address ?? "",
    userAgent: (call?.info.userAgent ?? "").slice(0, 256),
    details: entry.details ?? {},
  };
}
