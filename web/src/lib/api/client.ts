// The one way the UI talks to the wallet: the Connect client generated from the contract,
// JSON over HTTP on the same origin, with the session cookie the wallet set at sign-in.
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { WalletService } from "@cv-wallet/proto/wallet/v1";

export type WalletClient = Client<typeof WalletService>;

export function walletTransport(baseUrl: string): Transport {
  return createConnectTransport({
    baseUrl,
    useBinaryFormat: false,
    fetch: (input, init) => fetch(input, { ...init, credentials: "same-origin" }),
  });
}

let client: WalletClient | undefined;

/** The wallet client for this page's origin (created on first use, in the browser). */
export function wallet(): WalletClient {
  client ??= createClient(WalletService, walletTransport(location.origin));
  return client;
}
