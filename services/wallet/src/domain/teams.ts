// Teams: people share keys under roles. The rules here, in one place:
// - every team operation reads the caller's membership from the store on each request (no
//   cache), so a removal or a lowered role applies to the next request of every session and
//   token of that person;
// - a caller who is not a member, or a token scoped to another team, gets not_found (team
//   ids do not leak); a member whose role is too low gets permission_denied;
// - a team always keeps an owner (failed_precondition, HTTP 409);
// - administration (members, invitations, deletion, the team's audit log) needs a signed-in
//   session; tokens reach a team's keys, and only a token scoped to that team does.
import { randomBytes } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  AppError,
  alreadyExists,
  conflict,
  gone,
  invalidArgument,
  notFound,
  permissionDenied,
} from "@cv-wallet/common/errors";
import type {
  AcceptInvitationRequest,
  AcceptInvitationResponseSchema,
  CreateInvitationRequest,
  CreateInvitationResponseSchema,
  CreateTeamRequest,
  CreateTeamResponseSchema,
  DeleteTeamRequest,
  InvitationSchema,
  ListInvitationsRequest,
  ListInvitationsResponseSchema,
  ListTeamAuditEventsRequest,
  ListTeamAuditEventsResponseSchema,
  ListTeamMembersRequest,
  ListTeamMembersResponseSchema,
  ListTeamsResponseSchema,
  RemoveTeamMemberRequest,
  RevokeInvitationRequest,
  TeamMemberSchema,
  TeamSchema,
  UpdateTeamMemberRequest,
  UpdateTeamMemberResponseSchema,
} from "@cv-wallet/proto/wallet/v1";
import { auditScope, invitationTarget, recordAudit, teamAuditScope, teamTarget, userTarget } from "./audit.ts";
import { mayUseProvider, requireAuth, requireScope, requireSession } from "./auth.ts";
import type { Call, Principal } from "./context.ts";
import type { WalletDeps } from "./deps.ts";
import { assertId, newId } from "./ids.ts";
import { teamKeyName } from "./key-names.ts";
import { auditMessage } from "./mappers.ts";
import type { InvitationRecord, KeyRecord, MembershipRecord, TeamRecord, TeamRole } from "./ports/store.ts";
import { hashSecret } from "./token-format.ts";

const DAY_MS = 86_400_000;
export const INVITATION_TTL_MS = 7 * DAY_MS;

const RANK: Record<TeamRole, number> = { owner: 4, admin: 3, member: 2, viewer: 1 };

/** True when `role` is `need` or more powerful. */
export const atLeast = (role: TeamRole, need: TeamRole): boolean => RANK[role] >= RANK[need];

const NO_TEAM = "no such team";

/**
 * The caller's membership in `teamId`, read now. not_found for a non-member and for a token
 * scoped to another team; permission_denied for a role below `need`.
 */
export async function teamMembership(
  deps: WalletDeps,
  p: Principal,
  teamId: string,
  need: TeamRole,
): Promise<MembershipRecord> {
  assertId(teamId, "team_id");
  if (p.token?.teamId !== undefined && p.token.teamId !== teamId) throw notFound(NO_TEAM);
  const m = await deps.store.teams.membership(teamId, p.user.id);
  if (!m) throw notFound(NO_TEAM);
  if (!atLeast(m.role, need)) throw permissionDenied(`this needs the ${need} role (or higher) in the team`);
  return m;
}

/**
 * Access to a team's keys: membership as above, and a token must be scoped to this team
 * (a personal token reaches the person's own keys only).
 */
export async function teamKeyAccess(
  deps: WalletDeps,
  p: Principal,
  teamId: string,
  need: TeamRole,
): Promise<MembershipRecord> {
  const m = await teamMembership(deps, p, teamId, "viewer");
  if (p.method === "token" && p.token?.teamId !== teamId) {
    throw permissionDenied("this access token is personal; create one scoped to the team for its keys");
  }
  if (!atLeast(m.role, need)) throw permissionDenied(`this needs the ${need} role (or higher) in the team`);
  return m;
}

/**
 * A key the caller may touch, or not_found (never "exists but not yours"): one of the
 * caller's own (not through a team token), or a key of a team the caller belongs to with at
 * least the role `need` (membership read now; see teams.ts for 404 vs 403).
 */
export async function keyForCaller(deps: WalletDeps, p: Principal, id: string, need: TeamRole): Promise<KeyRecord> {
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

/** The team a key request is about: the one named, else a team token's own; undefined for personal. */
export function requestTeam(p: Principal, teamId: string): string | undefined {
  const named = teamId || undefined;
  if (named !== undefined && p.token?.teamId !== undefined && named !== p.token.teamId) throw notFound(NO_TEAM);
  return named ?? p.token?.teamId;
}

/** Administration: membership first (so non-members get 404), then a session, then the role. */
async function administer(deps: WalletDeps, call: Call, teamId: string, need: TeamRole) {
  const p = await requireAuth(deps, call);
  const m = await teamMembership(deps, p, teamId, "viewer");
  if (p.method !== "session") throw permissionDenied("team administration needs a signed-in browser session");
  if (!atLeast(m.role, need)) throw permissionDenied(`this needs the ${need} role (or higher) in the team`);
  const team = await deps.store.teams.get(teamId);
  if (!team) throw notFound(NO_TEAM);
  return { p, m, team };
}

const ts = (d: Date | undefined) => (d ? timestampFromDate(d) : undefined);

function teamMessage(team: TeamRecord, role: TeamRole, memberCount: number): MessageInitShape<typeof TeamSchema> {
  return { id: team.id, name: team.name, role, createdAt: ts(team.createdAt), memberCount };
}

function memberMessage(m: MembershipRecord & { email: string }): MessageInitShape<typeof TeamMemberSchema> {
  return { userId: m.userId, email: m.email, role: m.role, joinedAt: ts(m.createdAt) };
}

function invitationMessage(i: InvitationRecord): MessageInitShape<typeof InvitationSchema> {
  return {
    id: i.id,
    teamId: i.teamId,
    email: i.email,
    role: i.role,
    createdAt: ts(i.createdAt),
    expiresAt: ts(i.expiresAt),
    invitedBy: i.invitedByEmail,
  };
}

function roleOf(role: string): TeamRole {
  if (!(role in RANK)) throw invalidArgument("role: must be owner, admin, member or viewer");
  return role as TeamRole;
}

export async function createTeam(
  deps: WalletDeps,
  req: CreateTeamRequest,
  call: Call,
): Promise<MessageInitShape<typeof CreateTeamResponseSchema>> {
  const p = await requireSession(deps, call, "creating a team");
  const now = new Date();
  const team: TeamRecord = { id: newId(), name: req.name, createdAt: now };
  await deps.store.teams.create(team, { teamId: team.id, userId: p.user.id, role: "owner", createdAt: now });
  await recordAudit(teamAuditScope(deps, call, p, team.id), "team.created", teamTarget(team));
  return { team: teamMessage(team, "owner", 1) };
}

export async function listTeams(
  deps: WalletDeps,
  call: Call,
): Promise<MessageInitShape<typeof ListTeamsResponseSchema>> {
  const p = await requireScope(deps, call, "keys:read");
  const mine = await deps.store.teams.listForUser(p.user.id);
  // A team token sees its own team only.
  const visible = p.token?.teamId !== undefined ? mine.filter((t) => t.team.id === p.token!.teamId) : mine;
  return { teams: visible.map((t) => teamMessage(t.team, t.role, t.memberCount)) };
}

export async function deleteTeam(deps: WalletDeps, req: DeleteTeamRequest, call: Call): Promise<Record<string, never>> {
  const { p, team } = await administer(deps, call, req.teamId, "owner");
  // Shred first, as account deletion does: with the crypto service down nothing is deleted
  // and the owner can retry; once the key is gone the ciphertexts are useless anyway.
  const destroyed = await deps.crypto.destroyKey(teamKeyName(team.id));
  await deps.store.teams.delete(team.id, new Date());
  // The team's log goes with the team; the owner's own log keeps the deletion.
  await recordAudit(auditScope(deps, call, p), "team.deleted", teamTarget(team));
  deps.logger.info({ teamId: team.id, versionsDestroyed: destroyed }, "team deleted");
  return {};
}

export async function listTeamMembers(
  deps: WalletDeps,
  req: ListTeamMembersRequest,
  call: Call,
): Promise<MessageInitShape<typeof ListTeamMembersResponseSchema>> {
  await administer(deps, call, req.teamId, "viewer");
  return { members: (await deps.store.teams.members(req.teamId)).map(memberMessage) };
}

export async function updateTeamMember(
  deps: WalletDeps,
  req: UpdateTeamMemberRequest,
  call: Call,
): Promise<MessageInitShape<typeof UpdateTeamMemberResponseSchema>> {
  const { p } = await administer(deps, call, req.teamId, "owner");
  assertId(req.userId, "user_id");
  const role = roleOf(req.role);
  const before = await deps.store.teams.membership(req.teamId, req.userId);
  if (!before) throw notFound("no such member");
  const outcome = await deps.store.teams.setRole(req.teamId, req.userId, role);
  if (outcome === "not_found") throw notFound("no such member");
  if (outcome === "last_owner") throw conflict("a team keeps at least one owner; make someone else owner first");
  const member = (await deps.store.teams.members(req.teamId)).find((m) => m.userId === req.userId);
  if (!member) throw notFound("no such member");
  await recordAudit(
    teamAuditScope(deps, call, p, req.teamId),
    "team.member.role_changed",
    userTarget({ id: member.userId, email: member.email }),
    {
      from: before.role,
      to: role,
    },
  );
  return { member: memberMessage(member) };
}

export async function removeTeamMember(
  deps: WalletDeps,
  req: RemoveTeamMemberRequest,
  call: Call,
): Promise<Record<string, never>> {
  const { p, m } = await administer(deps, call, req.teamId, "viewer");
  assertId(req.userId, "user_id");
  const leaving = req.userId === p.user.id;
  const members = await deps.store.teams.members(req.teamId);
  const target = members.find((x) => x.userId === req.userId);
  if (!leaving) {
    // Owners remove anyone; admins remove members and viewers; the rest only leave.
    if (!atLeast(m.role, "admin")) throw permissionDenied("this needs the admin role (or higher) in the team");
    if (!target) throw notFound("no such member");
    if (m.role !== "owner" && atLeast(target.role, "admin")) {
      throw permissionDenied("only an owner removes an admin or an owner");
    }
  }
  const outcome = await deps.store.teams.removeMember(req.teamId, req.userId);
  if (outcome === "not_found") throw notFound("no such member");
  if (outcome === "last_owner") throw conflict("a team keeps at least one owner; make someone else owner first");
  await recordAudit(
    teamAuditScope(deps, call, p, req.teamId),
    leaving ? "team.member.left" : "team.member.removed",
    userTarget({ id: req.userId, email: target?.email ?? "" }),
    { role: target?.role ?? "" },
  );
  return {};
}

/** The origin links point at: WALLET_PUBLIC_URL, else the browser's Origin, else the Host. */
function publicOrigin(deps: WalletDeps, call: Call): string {
  if (deps.settings.publicUrl) return deps.settings.publicUrl.replace(/\/+$/, "");
  if (call.info.origin) {
    try {
      return new URL(call.info.origin).origin;
    } catch {
      // fall through to the Host header
    }
  }
  return `http://${call.info.host ?? "localhost"}`;
}

export async function createInvitation(
  deps: WalletDeps,
  req: CreateInvitationRequest,
  call: Call,
): Promise<MessageInitShape<typeof CreateInvitationResponseSchema>> {
  const { p, m, team } = await administer(deps, call, req.teamId, "admin");
  const role = roleOf(req.role);
  if (role === "owner" && m.role !== "owner") throw permissionDenied("only an owner invites an owner");
  const email = req.email.trim().toLowerCase();
  const existing = await deps.store.users.byEmail(email);
  if (existing && (await deps.store.teams.membership(team.id, existing.id))) {
    throw alreadyExists("that person is already a member of the team");
  }
  const code = randomBytes(24).toString("base64url");
  const now = new Date();
  const invitation: InvitationRecord = {
    id: newId(),
    teamId: team.id,
    email,
    role,
    codeHash: hashSecret(code),
    invitedBy: p.user.id,
    invitedByEmail: p.user.email,
    createdAt: now,
    expiresAt: new Date(now.getTime() + INVITATION_TTL_MS),
  };
  await deps.store.teams.createInvitation(invitation);
  await recordAudit(teamAuditScope(deps, call, p, team.id), "team.invitation.created", invitationTarget(invitation), {
    role,
  });
  return {
    invitation: invitationMessage(invitation),
    code,
    link: `${publicOrigin(deps, call)}/invite/${code}`,
  };
}

export async function listInvitations(
  deps: WalletDeps,
  req: ListInvitationsRequest,
  call: Call,
): Promise<MessageInitShape<typeof ListInvitationsResponseSchema>> {
  await administer(deps, call, req.teamId, "admin");
  const pending = await deps.store.teams.pendingInvitations(req.teamId, new Date());
  return { invitations: pending.map(invitationMessage) };
}

export async function revokeInvitation(
  deps: WalletDeps,
  req: RevokeInvitationRequest,
  call: Call,
): Promise<Record<string, never>> {
  const { p } = await administer(deps, call, req.teamId, "admin");
  assertId(req.invitationId, "invitation_id");
  const pending = await deps.store.teams.pendingInvitations(req.teamId, new Date(0));
  const invitation = pending.find((i) => i.id === req.invitationId);
  if (!invitation || !(await deps.store.teams.revokeInvitation(req.teamId, req.invitationId))) {
    throw notFound("no such invitation");
  }
  await recordAudit(teamAuditScope(deps, call, p, req.teamId), "team.invitation.revoked", invitationTarget(invitation));
  return {};
}

export async function acceptInvitation(
  deps: WalletDeps,
  req: AcceptInvitationRequest,
  call: Call,
): Promise<MessageInitShape<typeof AcceptInvitationResponseSchema>> {
  const p = await requireSession(deps, call, "accepting an invitation");
  const invitation = await deps.store.teams.invitationByCodeHash(hashSecret(req.code));
  if (!invitation) throw notFound("no such invitation; it may have been revoked");
  const now = new Date();
  if (invitation.acceptedAt) throw gone("this invitation has already been used");
  if (invitation.expiresAt <= now) throw gone("this invitation has expired; ask for a new one");
  if (invitation.email !== p.user.email.toLowerCase()) {
    throw permissionDenied("this invitation is for another email address; sign in with the invited one");
  }
  const team = await deps.store.teams.get(invitation.teamId);
  if (!team) throw notFound("no such invitation; it may have been revoked");
  const outcome = await deps.store.teams.acceptInvitation(
    invitation.id,
    { teamId: team.id, userId: p.user.id, role: invitation.role, createdAt: now },
    now,
  );
  if (outcome === "gone") throw gone("this invitation has already been used");
  await recordAudit(teamAuditScope(deps, call, p, team.id), "team.member.joined", userTarget(p.user), {
    role: invitation.role,
    invitation: invitation.id,
  });
  const mine = (await deps.store.teams.listForUser(p.user.id)).find((t) => t.team.id === team.id);
  return { team: teamMessage(team, mine?.role ?? invitation.role, mine?.memberCount ?? 1) };
}

export async function listTeamAuditEvents(
  deps: WalletDeps,
  req: ListTeamAuditEventsRequest,
  call: Call,
): Promise<MessageInitShape<typeof ListTeamAuditEventsResponseSchema>> {
  await administer(deps, call, req.teamId, "admin");
  const page = await deps.store.audit.listTeam(
    req.teamId,
    { action: req.action || undefined, actorId: req.actorId || undefined },
    req.pageSize || 100,
    req.pageToken || undefined,
  );
  return { events: page.items.map(auditMessage), nextPageToken: page.next ?? "" };
}

/**
 * Before an account is deleted: refuses (409) while the person is the only owner of a team
 * that has other members, so no team is left without an owner; destroys the key and records
 * of the teams the person is alone in, as deleting the account destroys the person's own.
 */
export async function prepareAccountDeletion(deps: WalletDeps, userId: string): Promise<void> {
  const mine = await deps.store.teams.listForUser(userId);
  const alone: string[] = [];
  for (const { team, role, memberCount } of mine) {
    if (role !== "owner") continue;
    if (memberCount === 1) {
      alone.push(team.id);
      continue;
    }
    const owners = (await deps.store.teams.members(team.id)).filter((m) => m.role === "owner");
    if (owners.length === 1) {
      throw conflict(`you are the only owner of the team "${team.name}": make someone else owner, or delete it, first`);
    }
  }
  for (const teamId of alone) {
    await deps.crypto.destroyKey(teamKeyName(teamId));
    await deps.store.teams.delete(teamId, new Date());
  }
}
