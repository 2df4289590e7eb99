// What tools say about themselves (client, host, repository) and where it shows: on each
// plaintext read's audit event, and in a key's list of recent fetches.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ListKeyFetchesRequest, ListKeyFetchesResponseSchema } from "@cv-wallet/proto/wallet/v1";
import { requireScope } from "./auth.ts";
import type { Call, RequestInfo } from "./context.ts";
import type { WalletDeps } from "./deps.ts";
import { keyForCaller } from "./teams.ts";

const FETCH_ACTIONS = ["key.retrieved", "key.revealed"];

/** The audit details naming the calling tool; only the facts it sent. */
export function clientDetails(info: RequestInfo | undefined): Record<string, string> {
  const c = info?.client;
  if (!c) return {};
  const out: Record<string, string> = {};
  if (c.client) out.client = c.client;
  if (c.host) out.host = c.host;
  if (c.repository) out.repository = c.repository;
  return out;
}

export async function listKeyFetches(
  deps: WalletDeps,
  req: ListKeyFetchesRequest,
  call: Call,
): Promise<MessageInitShape<typeof ListKeyFetchesResponseSchema>> {
  const p = await requireScope(deps, call, "keys:read");
  // A team key's fetches are in the team's log (its owner partition), open to any member.
  const record = await keyForCaller(deps, p, req.id, "viewer");
  const events = await deps.store.audit.listForTarget(record.userId, record.id, FETCH_ACTIONS, req.pageSize || 20);
  return {
    fetches: events.map((e) => ({
      time: timestampFromDate(e.time),
      kind: e.action === "key.revealed" ? "revealed" : "retrieved",
      client: e.details.client ?? "",
      host: e.details.host ?? "",
      repository: e.details.repository ?? "",
      address: e.address,
      actor: e.actor,
    })),
  };
}
