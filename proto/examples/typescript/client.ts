// A cv-wallet client in TypeScript, on code generated from the compiled contracts
// (proto/README.md, "Generating a client"): lists the providers, then fetches a key the way
// cv-git does, over the Connect protocol (HTTP/1.1 JSON).
//
//   CVW_URL=http://127.0.0.1:8080 CVW_TOKEN=cvw_… node client.ts openai
//
// The token comes from the environment, never from the command line (which `ps` shows).
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { WalletService } from "./gen/cvwallet/wallet/v1/wallet_pb.js";

const token = process.env.CVW_TOKEN;
if (!token) {
  console.error("set CVW_TOKEN to an access token with the keys:read scope");
  process.exit(2);
}
const transport = createConnectTransport({
  baseUrl: process.env.CVW_URL ?? "http://127.0.0.1:8080",
  httpVersion: "1.1",
  interceptors: [
    (next) => (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    },
  ],
});
const wallet = createClient(WalletService, transport);

const { providers } = await wallet.listProviders({});
const provider: string = process.argv[2] ?? "openai";
const { key } = await wallet.getProviderKey({ provider });
// For the test that runs this file: the provider ids, and the key itself (as `cvw get` prints it).
console.log(JSON.stringify({ providers: providers.map((p) => p.id), key }));
