// A key fetch as a person reads it: "cv-git on laptop", from what the tool said about itself.
import type { KeyFetch } from "@cv-wallet/proto/wallet/v1";

/** "cv-git on laptop" from cvw-client "cv-git/2.3.0" and cvw-host "laptop"; reveals say so. */
export function fetchedBy(f: Pick<KeyFetch, "kind" | "client" | "host" | "actor">): string {
  if (f.kind === "revealed") return `Revealed in the browser${f.actor?.name ? ` by ${f.actor.name}` : ""}`;
  const name = f.client.split("/")[0]?.trim();
  const client = name || (f.actor?.type === "token" ? `token “${f.actor.name}”` : "a client");
  return f.host ? `${client} on ${f.host}` : client;
}
