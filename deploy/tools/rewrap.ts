// The re-wrap command, as operators run it from the repository root or a wallet pod:
//   node deploy/tools/rewrap.ts records [--batch N] [--concurrency N] [--state FILE] [--raise-min] [--restart]
//   node deploy/tools/rewrap.ts keyring [--page-size N] [--state FILE] [--restart]
// The command lives with the wallet (services/wallet/src/rewrap/rewrap.ts), which owns the
// records it walks; this entry point keeps the documented path. A relative import, so it runs
// in the wallet image, which copies services/wallet/ and deploy/tools/ but links no workspace.
import { runRewrapCli } from "../../services/wallet/src/rewrap/rewrap.ts";

export * from "../../services/wallet/src/rewrap/rewrap.ts";

if (import.meta.main) runRewrapCli(process.argv.slice(2), "node deploy/tools/rewrap.ts");
