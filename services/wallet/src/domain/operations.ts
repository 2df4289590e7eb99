// The WalletService operations, keyed by method: the one implementation both edges (REST
// routes and the Connect service) call with a validated request message and a Call.
import type { DescMethodUnary, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { invalidArgument, permissionDenied } from "@cv-wallet/common/errors";
import type { WalletService } from "@cv-wallet/proto/wallet/v1";
import { PROVIDERS, toProviderMessage } from "../checks/registry.ts";
import { currentUser, deleteAccount, signIn, signOut, signUp } from "./accounts.ts";
import { requireScope } from "./auth.ts";
import { listKeyFetches } from "./clients.ts";
import type { Call } from "./context.ts";
import type { WalletDeps } from "./deps.ts";
import { approveDeviceRequest, denyDeviceRequest, getDeviceRequest } from "./device.ts";
import {
  createKey,
  deleteKey,
  getKey,
  getKeyUsage,
  getProviderKey,
  listKeys,
  revealKey,
  updateKey,
  validateKey,
} from "./keys.ts";
import { auditMessage } from "./mappers.ts";
import { changePassword, listSessions, revokeOtherSessions, revokeSession } from "./sessions.ts";
import {
  acceptInvitation,
  createInvitation,
  createTeam,
  deleteTeam,
  listInvitations,
  listTeamAuditEvents,
  listTeamMembers,
  listTeams,
  removeTeamMember,
  revokeInvitation,
  updateTeamMember,
} from "./teams.ts";
import { createToken, listTokens, revokeCurrentToken, revokeToken } from "./tokens.ts";
import { deleteWebhook, getWebhook, setWebhook, testWebhook } from "./webhooks.ts";

type Methods = (typeof WalletService)["method"];
export type MethodName = keyof Methods;

export type WalletOps = {
  [K in MethodName]: Methods[K] extends DescMethodUnary<infer I, infer O>
    ? (request: MessageShape<I>, call: Call) => Promise<MessageInitShape<O>>
    : never;
};

export function walletOperations(deps: WalletDeps): WalletOps {
  return {
    signUp: (req, call) => signUp(deps, req, call),
    signIn: (req, call) => signIn(deps, req, call),
    signOut: (_req, call) => signOut(deps, call),
    getCurrentUser: (_req, call) => currentUser(deps, call),
    deleteAccount: (req, call) => deleteAccount(deps, req, call),
    listProviders: async () => ({ providers: PROVIDERS.map(toProviderMessage) }),
    listKeys: (req, call) => listKeys(deps, req, call),
    createKey: (req, call) => createKey(deps, req, call),
    getKey: (req, call) => getKey(deps, req, call),
    updateKey: (req, call) => updateKey(deps, req, call),
    deleteKey: (req, call) => deleteKey(deps, req, call),
    getProviderKey: (req, call) => getProviderKey(deps, req, call),
    revealKey: (req, call) => revealKey(deps, req, call),
    validateKey: (req, call) => validateKey(deps, req, call),
    getKeyUsage: (req, call) => getKeyUsage(deps, req, call),
    createToken: (req, call) => createToken(deps, req, call),
    listTokens: (_req, call) => listTokens(deps, call),
    revokeToken: (req, call) => revokeToken(deps, req, call),
    listAuditEvents: async (req, call) => {
      const p = await requireScope(deps, call, "keys:read");
      // The log covers every provider's keys; a token limited to some may not read it.
      if (p.providers.length > 0) throw permissionDenied("a token limited to some providers cannot read the audit log");
      if (req.startTime && req.endTime && timestampDate(req.startTime) >= timestampDate(req.endTime)) {
        throw invalidArgument("end_time: must be after start_time");
      }
      if (p.token?.teamId !== undefined) throw permissionDenied("a team token cannot read a personal audit log");
      const page = await deps.store.audit.list(
        p.user.id,
        req.action || undefined,
        req.pageSize || 100,
        req.pageToken || undefined,
        {
          from: req.startTime ? timestampDate(req.startTime) : undefined,
          to: req.endTime ? timestampDate(req.endTime) : undefined,
        },
      );
      return { events: page.items.map(auditMessage), nextPageToken: page.next ?? "" };
    },
    createTeam: (req, call) => createTeam(deps, req, call),
    listTeams: (_req, call) => listTeams(deps, call),
    deleteTeam: (req, call) => deleteTeam(deps, req, call),
    listTeamMembers: (req, call) => listTeamMembers(deps, req, call),
    updateTeamMember: (req, call) => updateTeamMember(deps, req, call),
    removeTeamMember: (req, call) => removeTeamMember(deps, req, call),
    createInvitation: (req, call) => createInvitation(deps, req, call),
    listInvitations: (req, call) => listInvitations(deps, req, call),
    revokeInvitation: (req, call) => revokeInvitation(deps, req, call),
    acceptInvitation: (req, call) => acceptInvitation(deps, req, call),
    listTeamAuditEvents: (req, call) => listTeamAuditEvents(deps, req, call),
    getDeviceRequest: (req, call) => getDeviceRequest(deps, req, call),
    approveDeviceRequest: (req, call) => approveDeviceRequest(deps, req, call),
    denyDeviceRequest: (req, call) => denyDeviceRequest(deps, req, call),
    revokeCurrentToken: (_req, call) => revokeCurrentToken(deps, call),
    listKeyFetches: (req, call) => listKeyFetches(deps, req, call),
    listSessions: (_req, call) => listSessions(deps, call),
    revokeSession: (req, call) => revokeSession(deps, req, call),
    revokeOtherSessions: (_req, call) => revokeOtherSessions(deps, call),
    changePassword: (req, call) => changePassword(deps, req, call),
    getWebhook: (_req, call) => getWebhook(deps, call),
    setWebhook: (req, call) => setWebhook(deps, req, call),
    deleteWebhook: (_req, call) => deleteWebhook(deps, call),
    testWebhook: (_req, call) => testWebhook(deps, call),
  };
}
