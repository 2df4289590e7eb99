// A child process for the benchmark: either the wallet (startWallet with the given options)
// or the bare Express baseline. Prints "READY <url> [<metrics url>]" when listening; SIGTERM stops it.
// Usage: node bench/serve.ts wallet '<json options>' | node bench/serve.ts bare
import { createLogger } from "@cv-wallet/common/logger";
import express from "express";
import { startWallet } from "../src/start.ts";

const [kind, json] = process.argv.slice(2);
if (kind === "bare") {
  const app = express();
  app.disable("x-powered-by");
  // The HTTP limit: what Express answers with no work at all, same JSON shape as a retrieval.
  app.get("/", (_req, res) => {
    res.json({ key: "sk-proj-0123456789abcdef0123456789abcdef" });
  });
  const server = app.listen(0, "127.0.0.1", () => {
    const address = server.address() as { port: number };
    console.log(`READY http://127.0.0.1:${address.port}`);
  });
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
} else {
  const options = JSON.parse(json!);
  const wallet = await startWallet({ ...options, logger: createLogger({ service: "wallet", level: "warn" }) });
  console.log(`READY ${wallet.url} ${wallet.metricsUrl ?? ""}`);
  process.on("SIGTERM", () => void wallet.stop().then(() => process.exit(0)));
}
