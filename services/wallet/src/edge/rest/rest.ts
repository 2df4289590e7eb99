// The REST edge: each route turns path, query and body into the WalletService request
// message (with fromJson, so REST JSON is the Connect JSON), validates it with the same
// protovalidate rules, calls the shared operation and answers with the response message
// as JSON. Errors go to the error middleware.
import { create, type DescMessage, fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import type { Validator } from "@bufbuild/protovalidate";
import { invalidArgument } from "@cv-wallet/common/errors";
import { assertValid } from "@cv-wallet/common/grpc";
import { WalletService } from "@cv-wallet/proto/wallet/v1";
import { type Request, type Response, Router } from "express";
import type { Call } from "../../domain/context.ts";
import type { MethodName, WalletOps } from "../../domain/operations.ts";

type Json = Record<string, unknown>;

interface Route {
  method: "get" | "post" | "put" | "patch" | "delete";
  path: string;
  op: MethodName;
  /** The request message as JSON, from the HTTP request. */
  input: (req: Request) => Json;
  status?: number;
}

const body = (req: Request): Json => {
  const b: unknown = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== "object" || Array.isArray(b)) throw invalidArgument("the request body must be a JSON object");
  return b as Json;
};
const none = (): Json => ({});
const idParam = (req: Request): Json => ({ id: req.params.id });
const teamParam = (req: Request): Json => ({ teamId: req.params.teamId });

/** Query strings are strings: pick the known names (camelCase or snake_case) and convert. */
function query(req: Request, fields: Record<string, "string" | "number" | "boolean" | "time">): Json {
  const out: Json = {};
  for (const [name, type] of Object.entries(fields)) {
    const snake = name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    const raw = req.query[name] ?? req.query[snake];
    if (raw === undefined) continue;
    if (typeof raw !== "string") throw invalidArgument(`${snake}: give it once, as a plain value`);
    if (type === "string") out[name] = raw;
    else if (type === "time") {
      if (!/^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(raw) || Number.isNaN(Date.parse(raw))) {
        throw invalidArgument(`${snake}: must be an RFC 3339 time, e.g. 2026-11-30T00:00:00Z`);
      }
      out[name] = raw;
    } else if (type === "number") {
      if (!/^\d{1,10}$/.test(raw)) throw invalidArgument(`${snake}: must be a whole number`);
      out[name] = Number(raw);
    } else {
      if (!/^(true|false|1|0)$/.test(raw)) throw invalidArgument(`${snake}: must be true or false`);
      out[name] = raw === "true" || raw === "1";
    }
  }
  return out;
}

/** PATCH: `"expiresAt": null` clears the expiry; other nulls mean "leave as is". */
function patchBody(req: Request): Json {
  const b: Json = { ...body(req), id: req.params.id };
  if (b.expiresAt === null) {
    delete b.expiresAt;
    b.clearExpiresAt = true;
  }
  return b;
}

export const ROUTES: Route[] = [
  { method: "post", path: "/api/auth/signup", op: "signUp", input: body, status: 201 },
  { method: "post", path: "/api/auth/login", op: "signIn", input: body },
  { method: "post", path: "/api/auth/logout", op: "signOut", input: none },
  { method: "get", path: "/api/auth/me", op: "getCurrentUser", input: none },
  { method: "delete", path: "/api/auth/account", op: "deleteAccount", input: body },
  { method: "get", path: "/api/providers", op: "listProviders", input: none },
  {
    method: "get",
    path: "/api/keys",
    op: "listKeys",
    input: (req) =>
      query(req, {
        provider: "string",
        expiringWithinDays: "number",
        needsAttention: "boolean",
        pageSize: "number",
        pageToken: "string",
        teamId: "string",
      }),
  },
  { method: "post", path: "/api/keys", op: "createKey", input: body, status: 201 },
  {
    method: "get",
    path: "/api/keys/provider/:provider",
    op: "getProviderKey",
    input: (req) => ({ provider: req.params.provider, ...query(req, { name: "string" }) }),
  },
  { method: "get", path: "/api/keys/:id", op: "getKey", input: idParam },
  { method: "patch", path: "/api/keys/:id", op: "updateKey", input: patchBody },
  { method: "delete", path: "/api/keys/:id", op: "deleteKey", input: idParam },
  { method: "post", path: "/api/keys/:id/reveal", op: "revealKey", input: idParam },
  { method: "post", path: "/api/keys/:id/validate", op: "validateKey", input: idParam },
  {
    method: "get",
    path: "/api/keys/:id/usage",
    op: "getKeyUsage",
    input: (req) => ({ id: req.params.id, ...query(req, { days: "number" }) }),
  },
  { method: "post", path: "/api/tokens", op: "createToken", input: body, status: 201 },
  { method: "get", path: "/api/tokens", op: "listTokens", input: none },
  // Before /api/tokens/:id, which would read "current" as an id.
  { method: "delete", path: "/api/tokens/current", op: "revokeCurrentToken", input: none },
  { method: "delete", path: "/api/tokens/:id", op: "revokeToken", input: idParam },
  {
    method: "get",
    path: "/api/audit",
    op: "listAuditEvents",
    input: (req) =>
      query(req, {
        action: "string",
        pageSize: "number",
        pageToken: "string",
        startTime: "time",
        endTime: "time",
      }),
  },
  {
    method: "get",
    path: "/api/device/requests/:userCode",
    op: "getDeviceRequest",
    input: (req) => ({ userCode: req.params.userCode }),
  },
  {
    method: "post",
    path: "/api/device/requests/:userCode/approve",
    op: "approveDeviceRequest",
    input: (req) => ({ ...body(req), userCode: req.params.userCode }),
  },
  {
    method: "post",
    path: "/api/device/requests/:userCode/deny",
    op: "denyDeviceRequest",
    input: (req) => ({ userCode: req.params.userCode }),
  },
  {
    method: "get",
    path: "/api/keys/:id/fetches",
    op: "listKeyFetches",
    input: (req) => ({ id: req.params.id, ...query(req, { pageSize: "number" }) }),
  },
  { method: "get", path: "/api/auth/sessions", op: "listSessions", input: none },
  { method: "delete", path: "/api/auth/sessions/:id", op: "revokeSession", input: idParam },
  { method: "post", path: "/api/auth/sessions/revoke-others", op: "revokeOtherSessions", input: none },
  { method: "post", path: "/api/auth/password", op: "changePassword", input: body },
  // The reminder webhook (one per person).
  { method: "get", path: "/api/account/webhook", op: "getWebhook", input: none },
  { method: "put", path: "/api/account/webhook", op: "setWebhook", input: body },
  { method: "delete", path: "/api/account/webhook", op: "deleteWebhook", input: none },
  { method: "post", path: "/api/account/webhook/test", op: "testWebhook", input: none },
  // Teams.
  { method: "post", path: "/api/teams", op: "createTeam", input: body, status: 201 },
  { method: "get", path: "/api/teams", op: "listTeams", input: none },
  { method: "delete", path: "/api/teams/:teamId", op: "deleteTeam", input: teamParam },
  { method: "get", path: "/api/teams/:teamId/members", op: "listTeamMembers", input: teamParam },
  {
    method: "patch",
    path: "/api/teams/:teamId/members/:userId",
    op: "updateTeamMember",
    input: (req) => ({ ...body(req), teamId: req.params.teamId, userId: req.params.userId }),
  },
  {
    method: "delete",
    path: "/api/teams/:teamId/members/:userId",
    op: "removeTeamMember",
    input: (req) => ({ teamId: req.params.teamId, userId: req.params.userId }),
  },
  {
    method: "post",
    path: "/api/teams/:teamId/invitations",
    op: "createInvitation",
    input: (req) => ({ ...body(req), teamId: req.params.teamId }),
    status: 201,
  },
  { method: "get", path: "/api/teams/:teamId/invitations", op: "listInvitations", input: teamParam },
  {
    method: "delete",
    path: "/api/teams/:teamId/invitations/:invitationId",
    op: "revokeInvitation",
    input: (req) => ({ teamId: req.params.teamId, invitationId: req.params.invitationId }),
  },
  { method: "post", path: "/api/invitations/accept", op: "acceptInvitation", input: body },
  {
    method: "get",
    path: "/api/teams/:teamId/audit",
    op: "listTeamAuditEvents",
    input: (req) => {
      // `?actor=` (a user or token id) is the message's actor_id.
      const { actor, ...q } = query(req, {
        action: "string",
        actor: "string",
        actorId: "string",
        pageSize: "number",
        pageToken: "string",
      });
      return { ...q, ...(actor !== undefined ? { actorId: actor } : {}), teamId: req.params.teamId };
    },
  },
];

/**
 * fromJson's messages can quote the offending value (a key sent as a number, say); say
 * which field was wrong and not what it held.
 */
function decodeError(error: unknown): Error {
  const message = error instanceof Error ? error.message : "";
  const field = /cannot decode field [\w.]*?\.(\w+) from JSON/.exec(message);
  if (field) return invalidArgument(`${field[1]}: wrong type or format`);
  const unknown = /key "([\w-]{1,64})" is unknown/.exec(message);
  if (unknown) return invalidArgument(`unknown field "${unknown[1]}"`);
  return invalidArgument("the request does not match the expected shape");
}

export function decodeRequest<T extends DescMessage>(schema: T, json: Json, validator: Validator) {
  let message: ReturnType<typeof fromJson<T>>;
  try {
    message = fromJson(schema, json as JsonValue);
  } catch (error) {
    throw decodeError(error);
  }
  assertValid(validator, schema, message);
  return message;
}

// proto3 JSON writes 64-bit integers as strings; REST clients get plain numbers.
const INT64_FIELDS = new Set(["usageCount", "count"]);
const numbersForInt64 = (key: string, value: unknown) =>
  INT64_FIELDS.has(key) && typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;

export function restRouter(ops: WalletOps, validator: Validator, callOf: (req: Request, res: Response) => Call) {
  const router = Router();
  for (const route of ROUTES) {
    const method = WalletService.method[route.op];
    router[route.method](route.path, async (req: Request, res: Response) => {
      const request = decodeRequest(method.input, route.input(req), validator);
      const handler = ops[route.op] as (r: unknown, c: Call) => Promise<object>;
      const response = await handler(request, callOf(req, res));
      const json = toJson(method.output, create(method.output, response as never), { alwaysEmitImplicit: true });
      res
        .status(route.status ?? 200)
        .type("application/json")
        .send(JSON.stringify(json, numbersForInt64));
    });
  }
  return router;
}
