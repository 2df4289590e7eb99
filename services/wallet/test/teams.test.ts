// Teams end to end (real crypto service, wallet on loopback): the authorization matrix over
// every team route × principal × resource, generated as a table so no cell is missing; the
// last owner (409); invitations (single use, 410, bound to an email); removal and a lowered
// role cutting off a live token at once; team deletion leaving no decryptable key; the team
// audit log; the Connect edge.
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { createClient as createGrpcClient } from "@cv-wallet/common/grpc";
import { captureLogs } from "@cv-wallet/common/testing/logs";
import { CryptoService } from "@cv-wallet/proto/crypto/v1";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCryptoClient } from "../src/clients/crypto.ts";
import { teamKeyName } from "../src/domain/key-names.ts";
import { ROUTES } from "../src/edge/rest/rest.ts";
import { rewrapRecords } from "../src/rewrap/rewrap.ts";
import {
  type Account,
  connectClient,
  createKey,
  expectNoSecretsInLogs,
  fakeOpenAi,
  PASSWORD,
  type Reply,
  rest,
  type Stack,
  signUp,
  startStack,
} from "./stack.ts";

let stack: Stack;
let base: string;

let openai: Awaited<ReturnType<typeof fakeOpenAi>>;

beforeAll(async () => {
  // Key checks (validate) go to a loopback server speaking OpenAI's check, never the internet.
  openai = await fakeOpenAi(new Set());
  stack = await startStack({ providers: { baseUrlOverrides: { openai: openai.url } } });
  base = stack.url;
});
afterAll(async () => {
  if (stack) expectNoSecretsInLogs(stack);
  await stack?.stop();
  await openai?.close();
});

interface Ev {
  action: string;
  actor: { type: string; id: string; userId?: string };
  target: { type: string; id: string; name: string };
}

const ALL_SCOPES = ["keys:read", "keys:write", "tokens:write"];

async function ok(p: Promise<Reply>, status = 200): Promise<Reply["body"]> {
  const r = await p;
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${r.text}`);
  return r.body;
}

async function newTeam(owner: Account, name = `team-${randomBytes(3).toString("hex")}`): Promise<string> {
  return (await ok(rest(base, "POST", "/api/teams", { name }, owner), 201)).team.id;
}

/** Invites and accepts: `who` joins with `role`. */
async function join_(teamId: string, admin: Account, who: Account, role: string): Promise<void> {
  const inv = await ok(rest(base, "POST", `/api/teams/${teamId}/invitations`, { email: who.email, role }, admin), 201);
  await ok(rest(base, "POST", "/api/invitations/accept", { code: inv.code }, who));
}

async function teamToken(who: Account, teamId: string | undefined): Promise<string> {
  const body = { name: `t-${randomBytes(3).toString("hex")}`, scopes: ALL_SCOPES, ...(teamId ? { teamId } : {}) };
  return (await ok(rest(base, "POST", "/api/tokens", body, who), 201)).secret;
}

// ── the matrix ──

type Role = "owner" | "admin" | "member" | "viewer";
const RANK: Record<Role, number> = { owner: 4, admin: 3, member: 2, viewer: 1 };

interface PrincipalSpec {
  name: string;
  /** The person's role in team A (undefined: never a member). */
  role?: Role;
  /** Was a member, removed before the request. */
  removed?: boolean;
  /** Calls with a token scoped to this team, else with the browser session. */
  token?: "A" | "B";
}

const PRINCIPALS: PrincipalSpec[] = [
  { name: "owner", role: "owner" },
  { name: "admin", role: "admin" },
  { name: "member", role: "member" },
  { name: "viewer", role: "viewer" },
  { name: "non-member" },
  { name: "removed member", role: "member", removed: true },
  { name: "member's team token", role: "member", token: "A" },
  { name: "viewer's team token", role: "viewer", token: "A" },
  { name: "removed member's team token", role: "member", removed: true, token: "A" },
  // A member of team A too, calling with a token scoped to team B (where it is a member).
  { name: "token scoped to another team", role: "member", token: "B" },
];

/** own: team A (or its key); other: a team the caller is not in (or its key); personal: the caller's own. */
type Resource = "own team" | "other team" | "personal" | "-";

interface Fixture {
  teamA: string;
  keyA: string;
  invitationA: string;
  /** The invitation for the non-member, to team A. */
  inviteCode: string;
}

interface Cell {
  route: string;
  principal: PrincipalSpec;
  resource: Resource;
}

interface RouteCase {
  /** The REST route, as ROUTES lists it. */
  route: string;
  resources: Resource[];
  /** Changes state: the cell gets a fresh team A. */
  mutates: boolean;
  request(ctx: {
    f: Fixture;
    res: Resource;
    principalUser: Account;
    personalKey: () => Promise<string>;
  }): Promise<{ method: string; path: string; body?: object }>;
  expected(p: PrincipalSpec, res: Resource): number;
}

const member = (p: PrincipalSpec) => p.role !== undefined && !p.removed;

/** Administration routes: 404 outside (never 403), a session needed, then the role. */
function administration(need: Role, okStatus: number, self?: (p: PrincipalSpec) => number | undefined) {
  return (p: PrincipalSpec, res: Resource): number => {
    if (res !== "own team") return 404;
    if (p.token === "B" || !member(p)) return 404;
    if (p.token) return 403;
    const special = self?.(p);
    if (special !== undefined) return special;
    return RANK[p.role!] >= RANK[need] ? okStatus : 403;
  };
}

/** Routes on one key by id. */
function keyAccess(need: Role, okStatus = 200) {
  return (p: PrincipalSpec, res: Resource): number => {
    if (res === "other team") return 404;
    // A team token reaches its team's keys only; a session its person's own.
    if (res === "personal") return p.token ? 404 : okStatus;
    if (p.token === "B" || !member(p)) return 404;
    return RANK[p.role!] >= RANK[need] ? okStatus : 403;
  };
}

const TEAM_RESOURCES: Resource[] = ["own team", "other team", "personal"];

let teamB: string;
let teamC: string;
let keyC: string;
const users: Record<string, Account> = {};
let outsider: Account;
let tokenB: string;

/** Which team id a resource names for team routes (personal: the caller's own user id, no team). */
const teamOf = (f: Fixture, res: Resource, u: Account) =>
  res === "own team" ? f.teamA : res === "other team" ? teamC : u.userId;

const CASES: RouteCase[] = [
  {
    route: "POST /api/teams",
    resources: ["-"],
    mutates: false,
    request: async () => ({ method: "POST", path: "/api/teams", body: { name: "another" } }),
    expected: (p) => (p.token ? 403 : 201),
  },
  {
    route: "GET /api/teams",
    resources: ["-"],
    mutates: false,
    request: async () => ({ method: "GET", path: "/api/teams" }),
    expected: () => 200,
  },
  {
    route: "DELETE /api/teams/:teamId",
    resources: TEAM_RESOURCES,
    mutates: true,
    request: async ({ f, res, principalUser }) => ({
      method: "DELETE",
      path: `/api/teams/${teamOf(f, res, principalUser)}`,
    }),
    expected: administration("owner", 200),
  },
  {
    route: "GET /api/teams/:teamId/members",
    resources: TEAM_RESOURCES,
    mutates: false,
    request: async ({ f, res, principalUser }) => ({
      method: "GET",
      path: `/api/teams/${teamOf(f, res, principalUser)}/members`,
    }),
    expected: administration("viewer", 200),
  },
  {
    route: "PATCH /api/teams/:teamId/members/:userId",
    resources: TEAM_RESOURCES,
    mutates: true,
    request: async ({ f, res, principalUser }) => ({
      method: "PATCH",
      path: `/api/teams/${teamOf(f, res, principalUser)}/members/${users.viewer!.userId}`,
      body: { role: "member" },
    }),
    expected: administration("owner", 200),
  },
  {
    // The target is the viewer: for the viewer itself, leaving.
    route: "DELETE /api/teams/:teamId/members/:userId",
    resources: TEAM_RESOURCES,
    mutates: true,
    request: async ({ f, res, principalUser }) => ({
      method: "DELETE",
      path: `/api/teams/${teamOf(f, res, principalUser)}/members/${users.viewer!.userId}`,
    }),
    expected: administration("admin", 200, (p) => (p.role === "viewer" ? 200 : undefined)),
  },
  {
    route: "POST /api/teams/:teamId/invitations",
    resources: TEAM_RESOURCES,
    mutates: false,
    request: async ({ f, res, principalUser }) => ({
      method: "POST",
      path: `/api/teams/${teamOf(f, res, principalUser)}/invitations`,
      body: { email: `new-${randomBytes(4).toString("hex")}@example.com`, role: "member" },
    }),
    expected: administration("admin", 201),
  },
  {
    route: "GET /api/teams/:teamId/invitations",
    resources: TEAM_RESOURCES,
    mutates: false,
    request: async ({ f, res, principalUser }) => ({
      method: "GET",
      path: `/api/teams/${teamOf(f, res, principalUser)}/invitations`,
    }),
    expected: administration("admin", 200),
  },
  {
    route: "DELETE /api/teams/:teamId/invitations/:invitationId",
    resources: TEAM_RESOURCES,
    mutates: true,
    request: async ({ f, res, principalUser }) => ({
      method: "DELETE",
      path: `/api/teams/${teamOf(f, res, principalUser)}/invitations/${f.invitationA}`,
    }),
    expected: administration("admin", 200),
  },
  {
    // The code was made for the non-member's email: everyone else is refused.
    route: "POST /api/invitations/accept",
    resources: ["-"],
    mutates: true,
    request: async ({ f }) => ({ method: "POST", path: "/api/invitations/accept", body: { code: f.inviteCode } }),
    expected: (p) => (p.token ? 403 : p.role === undefined ? 200 : 403),
  },
  {
    route: "GET /api/teams/:teamId/audit",
    resources: TEAM_RESOURCES,
    mutates: false,
    request: async ({ f, res, principalUser }) => ({
      method: "GET",
      path: `/api/teams/${teamOf(f, res, principalUser)}/audit`,
    }),
    expected: administration("admin", 200),
  },
  {
    // personal: no teamId (a team token then lists its own team's keys).
    route: "GET /api/keys",
    resources: TEAM_RESOURCES,
    mutates: false,
    request: async ({ f, res }) => ({
      method: "GET",
      path: res === "personal" ? "/api/keys" : `/api/keys?teamId=${res === "own team" ? f.teamA : teamC}`,
    }),
    expected: (p, res) => {
      if (res === "other team") return 404;
      if (res === "personal") return p.token === "A" && p.removed ? 404 : 200;
      return p.token === "B" || !member(p) ? 404 : 200;
    },
  },
  {
    route: "POST /api/keys",
    resources: TEAM_RESOURCES,
    mutates: false,
    request: async ({ f, res }) => ({
      method: "POST",
      path: "/api/keys",
      body: {
        provider: "openai",
        name: `k-${randomBytes(4).toString("hex")}`,
        key: `sk-proj-${randomBytes(16).toString("hex")}`,
        ...(res === "personal" ? {} : { teamId: res === "own team" ? f.teamA : teamC }),
      },
    }),
    expected: (p, res) => {
      if (res === "other team") return 404;
      if (res === "personal") {
        if (!p.token) return 201;
        // A team token stores into its team: members and viewers may not.
        return p.token === "A" && p.removed ? 404 : 403;
      }
      if (p.token === "B" || !member(p)) return 404;
      return RANK[p.role!] >= RANK.admin ? 201 : 403;
    },
  },
  {
    route: "GET /api/keys/provider/:provider",
    resources: ["-"],
    mutates: false,
    request: async () => ({ method: "GET", path: "/api/keys/provider/openai" }),
    // Sessions fetch their own key; team tokens their team's default (members and up).
    expected: (p) => {
      if (!p.token) return 200;
      if (p.token === "B") return 200;
      if (p.removed) return 404;
      return RANK[p.role!] >= RANK.member ? 200 : 403;
    },
  },
  {
    route: "GET /api/keys/:id",
    resources: TEAM_RESOURCES,
    mutates: false,
    request: async ({ f, res, personalKey }) => ({
      method: "GET",
      path: `/api/keys/${await keyFor(f, res, personalKey)}`,
    }),
    expected: keyAccess("viewer"),
  },
  {
    route: "PATCH /api/keys/:id",
    resources: TEAM_RESOURCES,
    mutates: true,
    request: async ({ f, res, personalKey }) => ({
      method: "PATCH",
      path: `/api/keys/${await keyFor(f, res, personalKey)}`,
      body: { name: `renamed-${randomBytes(3).toString("hex")}` },
    }),
    expected: keyAccess("admin"),
  },
  {
    route: "DELETE /api/keys/:id",
    resources: TEAM_RESOURCES,
    mutates: true,
    request: async ({ f, res, personalKey }) => ({
      method: "DELETE",
      path: `/api/keys/${await keyFor(f, res, personalKey)}`,
    }),
    expected: keyAccess("admin"),
  },
  {
    route: "POST /api/keys/:id/reveal",
    resources: TEAM_RESOURCES,
    mutates: false,
    request: async ({ f, res, personalKey }) => ({
      method: "POST",
      path: `/api/keys/${await keyFor(f, res, personalKey)}/reveal`,
    }),
    expected: keyAccess("member"),
  },
  {
    route: "POST /api/keys/:id/validate",
    resources: TEAM_RESOURCES,
    mutates: false,
    request: async ({ f, res, personalKey }) => ({
      method: "POST",
      path: `/api/keys/${await keyFor(f, res, personalKey)}/validate`,
    }),
    expected: keyAccess("admin"),
  },
  {
    route: "GET /api/keys/:id/usage",
    resources: TEAM_RESOURCES,
    mutates: false,
    request: async ({ f, res, personalKey }) => ({
      method: "GET",
      path: `/api/keys/${await keyFor(f, res, personalKey)}/usage`,
    }),
    expected: keyAccess("viewer"),
  },
  {
    route: "POST /api/tokens",
    resources: TEAM_RESOURCES,
    mutates: false,
    request: async ({ f, res }) => ({
      method: "POST",
      path: "/api/tokens",
      body: {
        name: "child",
        scopes: ["keys:read"],
        ...(res === "personal" ? {} : { teamId: res === "own team" ? f.teamA : teamC }),
      },
    }),
    expected: (p, res) => {
      if (res === "other team") return 404;
      // A team token mints tokens for its own team only.
      if (res === "personal") return p.token ? 403 : 201;
      return p.token === "B" || !member(p) ? 404 : 201;
    },
  },
];

async function keyFor(f: Fixture, res: Resource, personalKey: () => Promise<string>): Promise<string> {
  return res === "own team" ? f.keyA : res === "other team" ? keyC : personalKey();
}

/** Team A with every role, a key, a pending invitation, and the tokens the principals use. */
async function buildFixture(): Promise<Fixture & { tokens: Record<string, string> }> {
  const teamA = await newTeam(users.owner!);
  for (const role of ["admin", "member", "viewer"] as const) await join_(teamA, users.owner!, users[role]!, role);
  await join_(teamA, users.owner!, users.removed!, "member");
  await join_(teamA, users.owner!, users.both!, "member");
  const tokens: Record<string, string> = {
    "member's team token": await teamToken(users.member!, teamA),
    "viewer's team token": await teamToken(users.viewer!, teamA),
    "removed member's team token": await teamToken(users.removed!, teamA),
    "token scoped to another team": tokenB,
  };
  await ok(rest(base, "DELETE", `/api/teams/${teamA}/members/${users.removed!.userId}`, undefined, users.owner!));
  const keyA = (await createKey(base, users.owner!, { teamId: teamA })).id;
  const pending = await ok(
    rest(
      base,
      "POST",
      `/api/teams/${teamA}/invitations`,
      { email: `p-${randomBytes(3).toString("hex")}@example.com`, role: "viewer" },
      users.owner!,
    ),
    201,
  );
  const forNonMember = await ok(
    rest(
      base,
      "POST",
      `/api/teams/${teamA}/invitations`,
      { email: users["non-member"]!.email, role: "viewer" },
      users.owner!,
    ),
    201,
  );
  return { teamA, keyA, invitationA: pending.invitation.id, inviteCode: forNonMember.code, tokens };
}

const userOf = (p: PrincipalSpec): Account =>
  p.token === "B" ? users.both! : users[p.removed ? "removed" : (p.role ?? "non-member")]!;

describe("teams: the authorization matrix", () => {
  const cells: Cell[] = CASES.flatMap((c) =>
    PRINCIPALS.flatMap((principal) => c.resources.map((resource) => ({ route: c.route, principal, resource }))),
  );

  it("covers every team route, and every principal and resource for each", () => {
    const teamRoutes = ROUTES.filter((r) => r.path.startsWith("/api/teams") || r.path.startsWith("/api/invitations"));
    for (const r of teamRoutes) expect(CASES.map((c) => c.route)).toContain(`${r.method.toUpperCase()} ${r.path}`);
    for (const c of CASES) {
      expect(ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path}`)).toContain(c.route);
      expect(cells.filter((x) => x.route === c.route)).toHaveLength(PRINCIPALS.length * c.resources.length);
    }
  });

  it("answers each cell as the table says", { timeout: 600_000 }, async () => {
    for (const name of ["owner", "admin", "member", "viewer", "non-member", "removed", "both"])
      users[name] = await signUp(base);
    outsider = await signUp(base);
    // Team B (the other team's token) and team C (nobody's here), each with an openai key.
    teamB = await newTeam(outsider);
    await join_(teamB, outsider, users.both!, "member");
    await createKey(base, outsider, { teamId: teamB });
    tokenB = await teamToken(users.both!, teamB);
    teamC = await newTeam(outsider);
    keyC = (await createKey(base, outsider, { teamId: teamC })).id;
    // Everyone has a personal openai key (a session's provider fetch).
    for (const u of Object.values(users)) await createKey(base, u);

    const shared = await buildFixture();
    const table: string[] = [];
    const wrong: string[] = [];
    for (const c of CASES) {
      for (const principal of PRINCIPALS) {
        for (const resource of c.resources) {
          const f = c.mutates ? await buildFixture() : shared;
          const u = userOf(principal);
          const auth = principal.token ? { token: f.tokens[principal.name]! } : u;
          const req = await c.request({
            f,
            res: resource,
            principalUser: u,
            personalKey: async () => (await createKey(base, u)).id,
          });
          const r = await rest(base, req.method, req.path, req.body, auth);
          const want = c.expected(principal, resource);
          table.push(`${c.route} | ${principal.name} | ${resource} | ${r.status}`);
          if (r.status !== want)
            wrong.push(`${c.route} | ${principal.name} | ${resource}: want ${want}, got ${r.status} ${r.text}`);
          // Never a 5xx, and the error shape is the REST one.
          if (r.status >= 400) expect(r.body?.error?.code).toBeTypeOf("string");
        }
      }
    }
    // The table as run, kept as a test artefact.
    mkdirSync(".reports", { recursive: true });
    writeFileSync(join(".reports", "teams-matrix.txt"), `route | principal | resource | status\n${table.join("\n")}\n`);
    expect(wrong).toEqual([]);
    expect(table.length).toBe(CASES.reduce((n, c) => n + PRINCIPALS.length * c.resources.length, 0));
  });
});

describe("teams: rules", () => {
  it("a team keeps an owner: 409 for removing or demoting the last one; with two owners it works", async () => {
    const owner = await signUp(base);
    const other = await signUp(base);
    const team = await newTeam(owner);
    const demote = await rest(base, "PATCH", `/api/teams/${team}/members/${owner.userId}`, { role: "admin" }, owner);
    expect([demote.status, demote.body.error.code]).toEqual([409, "failed_precondition"]);
    const leave = await rest(base, "DELETE", `/api/teams/${team}/members/${owner.userId}`, undefined, owner);
    expect(leave.status).toBe(409);
    await join_(team, owner, other, "owner");
    await ok(rest(base, "PATCH", `/api/teams/${team}/members/${owner.userId}`, { role: "admin" }, owner));
    // Now an admin: may no longer change roles.
    expect(
      (await rest(base, "PATCH", `/api/teams/${team}/members/${other.userId}`, { role: "member" }, owner)).status,
    ).toBe(403);
    await ok(rest(base, "DELETE", `/api/teams/${team}/members/${owner.userId}`, undefined, owner));
    expect((await rest(base, "GET", `/api/teams/${team}/members`, undefined, owner)).status).toBe(404);
    const bad = await rest(base, "PATCH", `/api/teams/${team}/members/${other.userId}`, { role: "boss" }, other);
    expect(bad.status).toBe(400);
  });

  it("invitations: a link shown once, hashed at rest, single use (410), expiry (410), bound to the email (403), revocable (404)", async () => {
    const owner = await signUp(base);
    const invitee = await signUp(base);
    const stranger = await signUp(base);
    const team = await newTeam(owner);
    const created = await ok(
      rest(
        base,
        "POST",
        `/api/teams/${team}/invitations`,
        { email: invitee.email.toUpperCase(), role: "member" },
        owner,
      ),
      201,
    );
    expect(created.link).toBe(`${base}/invite/${created.code}`);
    expect(created.code).toMatch(/^[\w-]{32}$/);
    const listed = await ok(rest(base, "GET", `/api/teams/${team}/invitations`, undefined, owner));
    expect(listed.invitations).toHaveLength(1);
    expect(JSON.stringify(listed)).not.toContain(created.code);
    const wrongEmail = await rest(base, "POST", "/api/invitations/accept", { code: created.code }, stranger);
    expect(wrongEmail.status).toBe(403);
    const accepted = await ok(rest(base, "POST", "/api/invitations/accept", { code: created.code }, invitee));
    expect(accepted.team).toMatchObject({ id: team, role: "member", memberCount: 2 });
    const again = await rest(base, "POST", "/api/invitations/accept", { code: created.code }, invitee);
    expect([again.status, again.body.error.code]).toEqual([410, "failed_precondition"]);
    expect((await rest(base, "POST", "/api/invitations/accept", { code: "nope" }, invitee)).status).toBe(404);
    // Already a member: no second invitation.
    expect(
      (await rest(base, "POST", `/api/teams/${team}/invitations`, { email: invitee.email, role: "viewer" }, owner))
        .status,
    ).toBe(409);

    // Expiry: the store's clock is moved back by hand (7 days is long for a test).
    const late = await ok(
      rest(base, "POST", `/api/teams/${team}/invitations`, { email: stranger.email, role: "viewer" }, owner),
      201,
    );
    const db = new DatabaseSync(join(stack.dir, "wallet", "wallet.db"));
    try {
      db.exec("PRAGMA busy_timeout = 5000");
      db.prepare("UPDATE team_invitations SET expires_at = ? WHERE id = ?").run(Date.now() - 1, late.invitation.id);
      const row = db.prepare("SELECT code_hash FROM team_invitations WHERE id = ?").get(late.invitation.id) as {
        code_hash: string;
      };
      expect(row.code_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(row.code_hash).not.toContain(late.code);
    } finally {
      db.close();
    }
    const expired = await rest(base, "POST", "/api/invitations/accept", { code: late.code }, stranger);
    expect(expired.status).toBe(410);
    expect((await ok(rest(base, "GET", `/api/teams/${team}/invitations`, undefined, owner))).invitations).toEqual([]);

    const revoked = await ok(
      rest(base, "POST", `/api/teams/${team}/invitations`, { email: stranger.email, role: "viewer" }, owner),
      201,
    );
    await ok(rest(base, "DELETE", `/api/teams/${team}/invitations/${revoked.invitation.id}`, undefined, owner));
    expect((await rest(base, "POST", "/api/invitations/accept", { code: revoked.code }, stranger)).status).toBe(404);
    // An admin may not invite an owner.
    const admin = await signUp(base);
    await join_(team, owner, admin, "admin");
    expect(
      (await rest(base, "POST", `/api/teams/${team}/invitations`, { email: "o@example.com", role: "owner" }, admin))
        .status,
    ).toBe(403);
  });

  it("removal and a lowered role cut off a live token on its next request; the audit shows who did what", async () => {
    const owner = await signUp(base);
    const dev = await signUp(base);
    const team = await newTeam(owner);
    await join_(team, owner, dev, "member");
    const shared = await createKey(base, owner, {
      teamId: team,
      provider: "anthropic",
      key: `sk-ant-${randomBytes(20).toString("hex")}`,
    });
    const token = await teamToken(dev, team);
    const fetched = await ok(rest(base, "GET", "/api/keys/provider/anthropic", undefined, { token }));
    expect(fetched.key).toBe(shared.key);
    // The token's person has no anthropic key of their own: the team's was fetched.
    expect((await rest(base, "GET", "/api/keys/provider/anthropic", undefined, dev)).status).toBe(404);

    await ok(rest(base, "PATCH", `/api/teams/${team}/members/${dev.userId}`, { role: "viewer" }, owner));
    expect((await rest(base, "GET", "/api/keys/provider/anthropic", undefined, { token })).status).toBe(403);
    expect((await rest(base, "POST", `/api/keys/${shared.id}/reveal`, undefined, dev)).status).toBe(403);
    expect((await rest(base, "GET", `/api/keys/${shared.id}`, undefined, { token })).status).toBe(200);

    await ok(rest(base, "DELETE", `/api/teams/${team}/members/${dev.userId}`, undefined, owner));
    expect((await rest(base, "GET", "/api/keys/provider/anthropic", undefined, { token })).status).toBe(404);
    expect((await rest(base, "GET", `/api/keys/${shared.id}`, undefined, { token })).status).toBe(404);
    expect((await rest(base, "GET", `/api/keys?teamId=${team}`, undefined, dev)).status).toBe(404);

    const audit = await ok(rest(base, "GET", `/api/teams/${team}/audit`, undefined, owner));
    const actions = audit.events.map((e: Ev) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        "team.created",
        "team.member.joined",
        "key.created",
        "key.retrieved",
        "team.member.role_changed",
        "team.member.removed",
      ]),
    );
    const retrieved = audit.events.find((e: Ev) => e.action === "key.retrieved");
    expect(retrieved.actor).toMatchObject({ type: "token", userId: dev.userId });
    const removed = audit.events.find((e: Ev) => e.action === "team.member.removed");
    expect(removed.actor).toMatchObject({ userId: owner.userId });
    expect(removed.target).toMatchObject({ type: "user", id: dev.userId, name: dev.email });
    const byDev = await ok(rest(base, "GET", `/api/teams/${team}/audit?actor=${dev.userId}`, undefined, owner));
    expect(new Set(byDev.events.map((e: Ev) => e.actor.userId))).toEqual(new Set([dev.userId]));
    const onlyRetrievals = await ok(
      rest(base, "GET", `/api/teams/${team}/audit?action=key.retrieved`, undefined, owner),
    );
    expect(onlyRetrievals.events).toHaveLength(1);
    // Usage counts the team key's retrieval.
    expect((await ok(rest(base, "GET", `/api/keys/${shared.id}`, undefined, owner))).key.usageCount).toBe(1);
    // Team events stay out of the person's own log.
    const personal = await ok(rest(base, "GET", "/api/audit", undefined, owner));
    expect(personal.events.map((e: Ev) => e.action)).not.toContain("key.retrieved");
  });

  it("deleting a team destroys its key first: no ciphertext of the team decrypts afterwards", async () => {
    const owner = await signUp(base);
    const team = await newTeam(owner);
    const key = await createKey(base, owner, { teamId: team });
    const token = await teamToken(owner, team);
    const db = new DatabaseSync(join(stack.dir, "wallet", "wallet.db"), { readOnly: true });
    let ciphertext: string;
    try {
      ciphertext = (db.prepare("SELECT ciphertext FROM api_keys WHERE id = ?").get(key.id) as { ciphertext: string })
        .ciphertext;
    } finally {
      db.close();
    }
    const crypto = createCryptoClient({
      address: stack.crypto()!.address,
      token: stack.cryptoToken,
      timeoutMs: 5000,
      logger: captureLogs("test-crypto").logger,
    });
    try {
      // Encrypted under the team's key, not the person's.
      expect(await crypto.decryptUnder(teamKeyName(team), key.id, "key", ciphertext)).toBe(key.key);
      await expect(crypto.decrypt(owner.userId, key.id, "key", ciphertext)).rejects.toThrow();
      await ok(rest(base, "DELETE", `/api/teams/${team}`, undefined, owner));
      await expect(crypto.decryptUnder(teamKeyName(team), key.id, "key", ciphertext)).rejects.toThrow();
    } finally {
      crypto.close();
    }
    expect((await rest(base, "GET", `/api/teams/${team}/members`, undefined, owner)).status).toBe(404);
    expect((await rest(base, "GET", `/api/keys/${key.id}`, undefined, owner)).status).toBe(404);
    expect((await rest(base, "GET", "/api/keys/provider/openai", undefined, { token })).status).toBe(401);
    const personal = await ok(rest(base, "GET", "/api/audit?action=team.deleted", undefined, owner));
    expect(personal.events).toHaveLength(1);
  });

  it("deleting an account never leaves a team without an owner; its solo teams go with it", async () => {
    const owner = await signUp(base);
    const dev = await signUp(base);
    const shared = await newTeam(owner);
    const solo = await newTeam(owner);
    await join_(shared, owner, dev, "member");
    const key = await createKey(base, owner, { teamId: shared });
    const devToken = await teamToken(dev, shared);
    const refused = await rest(base, "DELETE", "/api/auth/account", { password: PASSWORD }, owner);
    expect([refused.status, refused.body.error.code]).toEqual([409, "failed_precondition"]);
    await ok(rest(base, "PATCH", `/api/teams/${shared}/members/${dev.userId}`, { role: "owner" }, owner));
    await ok(rest(base, "DELETE", "/api/auth/account", { password: PASSWORD }, owner));
    // The team and its key stay (they were never the person's); the solo team is gone.
    const members = await ok(rest(base, "GET", `/api/teams/${shared}/members`, undefined, dev));
    expect(members.members.map((m: { userId: string }) => m.userId)).toEqual([dev.userId]);
    expect((await ok(rest(base, "GET", "/api/keys/provider/openai", undefined, { token: devToken }))).key).toBe(
      key.key,
    );
    const db = new DatabaseSync(join(stack.dir, "wallet", "wallet.db"), { readOnly: true });
    try {
      expect(db.prepare("SELECT COUNT(*) AS n FROM teams WHERE id = ?").get(solo)).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });

  it("a personal token reaches the person's own keys, never a team's", async () => {
    const owner = await signUp(base);
    const team = await newTeam(owner);
    const teamKey = await createKey(base, owner, { teamId: team });
    const own = await createKey(base, owner);
    const personal = await teamToken(owner, undefined);
    expect((await rest(base, "GET", `/api/keys?teamId=${team}`, undefined, { token: personal })).status).toBe(403);
    expect((await rest(base, "GET", `/api/keys/${teamKey.id}`, undefined, { token: personal })).status).toBe(403);
    expect((await ok(rest(base, "GET", "/api/keys/provider/openai", undefined, { token: personal }))).key).toBe(
      own.key,
    );
    const child = await rest(
      base,
      "POST",
      "/api/tokens",
      { name: "c", scopes: ["keys:read"], teamId: team },
      { token: personal },
    );
    expect(child.status).toBe(403);
  });

  it("device sign-in approved for a team hands out a team token; a non-member cannot approve for it", async () => {
    const owner = await signUp(base);
    const stranger = await signUp(base);
    const team = await newTeam(owner);
    const shared = await createKey(base, owner, { teamId: team });
    const post = async (path: string, params: Record<string, string>) => {
      const res = await fetch(`${base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(params).toString(),
      });
      return { status: res.status, body: (await res.json()) as Record<string, string> };
    };
    const start = async () => (await post("/oauth/device/code", { client_id: "cvw", scope: "keys:read" })).body;
    const approve = (code: string, who: Account) =>
      rest(base, "POST", `/api/device/requests/${code}/approve`, { teamId: team }, who);

    const refused = await start();
    expect((await approve(refused.user_code!, stranger)).status).toBe(404);

    const started = await start();
    await ok(approve(started.user_code!, owner));
    const polled = await post("/oauth/token", {
      grant_type: "urn:ietf:params:oauth:grant-type:device_code",
      device_code: started.device_code!,
      client_id: "cvw",
    });
    expect(polled.status).toBe(200);
    const token = polled.body.access_token!;
    expect((await ok(rest(base, "GET", "/api/keys/provider/openai", undefined, { token }))).key).toBe(shared.key);
    const listed = await ok(rest(base, "GET", "/api/tokens", undefined, owner));
    expect(listed.tokens.find((t: { prefix: string }) => token.startsWith(t.prefix))).toMatchObject({ teamId: team });
  });

  it("re-wrap moves a team's records onto the team key's latest version", async () => {
    const owner = await signUp(base);
    const team = await newTeam(owner);
    const key = await createKey(base, owner, { teamId: team });
    const token = await teamToken(owner, team);
    const channel = new grpc.Client(stack.crypto()!.address, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${stack.cryptoToken}`);
    try {
      await createGrpcClient(CryptoService, channel).rotateKey(
        { keyName: teamKeyName(team) },
        { metadata, timeoutMs: 5000 },
      );
    } finally {
      channel.close();
    }
    const summary = await rewrapRecords({
      env: {
        CRYPTO_GRPC_ADDR: stack.crypto()!.address,
        CRYPTO_SERVICE_TOKEN: stack.cryptoToken,
        WALLET_DATA_DIR: join(stack.dir, "wallet"),
      },
      stateFile: join(stack.dir, "rewrap-state.json"),
      restart: true,
      log: () => {},
    });
    expect(summary.failed.filter((f) => f.id === key.id)).toEqual([]);
    const db = new DatabaseSync(join(stack.dir, "wallet", "wallet.db"), { readOnly: true });
    try {
      expect(db.prepare("SELECT key_version FROM api_keys WHERE id = ?").get(key.id)).toEqual({ key_version: 2 });
    } finally {
      db.close();
    }
    expect((await ok(rest(base, "GET", "/api/keys/provider/openai", undefined, { token }))).key).toBe(key.key);
  });

  it("the Connect edge runs the same operations and rules", async () => {
    const owner = await signUp(base);
    const stranger = await signUp(base);
    const client = connectClient(base, owner);
    const { team } = await client.createTeam({ name: "over connect" });
    expect(team).toMatchObject({ name: "over connect", role: "owner", memberCount: 1 });
    expect((await client.listTeams({})).teams.map((t) => t.id)).toContain(team!.id);
    await expect(
      client.updateTeamMember({ teamId: team!.id, userId: owner.userId, role: "viewer" }),
    ).rejects.toMatchObject({
      code: 9, // FailedPrecondition: the last owner
    });
    await expect(connectClient(base, stranger).listTeamMembers({ teamId: team!.id })).rejects.toMatchObject({
      code: 5,
    });
    const inv = await client.createInvitation({ teamId: team!.id, email: stranger.email, role: "viewer" });
    expect(inv.link).toContain(`/invite/${inv.code}`);
    const joined = await connectClient(base, stranger).acceptInvitation({ code: inv.code });
    expect(joined.team?.role).toBe("viewer");
    await expect(connectClient(base, stranger).acceptInvitation({ code: inv.code })).rejects.toMatchObject({ code: 9 });
    const { key } = await client.createKey({
      teamId: team!.id,
      provider: "groq",
      name: "shared",
      key: `gsk_${randomBytes(20).toString("hex")}`,
    });
    expect(key?.teamId).toBe(team!.id);
    const listed = await connectClient(base, stranger).listKeys({ teamId: team!.id });
    expect(listed.keys.map((k) => k.maskedKey)).toEqual([key!.maskedKey]);
    await expect(connectClient(base, stranger).revealKey({ id: key!.id })).rejects.toMatchObject({ code: 7 });
  });
});
