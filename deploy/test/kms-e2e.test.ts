// The whole product with KMS_KEY_ID set: the crypto service wraps its data keys with an AWS
// KMS key (moto when `scripts/test-servers.sh up` started it, else the loopback KMS fake; the
// console says which) and the wallet runs in front of it, both as processes. A key stored
// through the wallet is fetched back, also after a cold restart of crypto (its DEK cache empty,
// so the data key is unwrapped by KMS again), and every key version names the KMS key.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@cv-wallet/common/grpc";
import { CryptoService } from "@cv-wallet/proto/crypto/v1";
import * as grpc from "@grpc/grpc-js";
import { afterAll, describe, expect, test } from "vitest";
import { kmsForSuite, type TestKms } from "./support/kms.ts";
import { type Service, serviceToken, startCrypto, startWallet } from "./support/processes.ts";
import { userWithToken, WalletHttp } from "./support/wallet-http.ts";

describe("the product end to end with KMS_KEY_ID (aws-kms key provider)", () => {
  const dir = mkdtempSync(join(tmpdir(), "cvw-kms-e2e-"));
  const token = serviceToken();
  const services: Service[] = [];
  let kms: TestKms | undefined;

  afterAll(async () => {
    for (const s of services.reverse()) await s.stop();
    await kms?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a key stored through the wallet comes back, also after a cold crypto restart", async () => {
    kms = await kmsForSuite("deploy end to end with KMS_KEY_ID");
    const keyId = await kms.createKey();
    const bootCrypto = async () => {
      const crypto = await startCrypto("crypto", {
        CRYPTO_DATA_DIR: join(dir, "crypto"),
        CRYPTO_SERVICE_TOKEN: token,
        ...kms!.env(keyId),
      });
      services.push(crypto);
      return crypto;
    };
    let crypto = await bootCrypto();
    const wallet = await startWallet("wallet", {
      WALLET_DATA_DIR: join(dir, "wallet"),
      CRYPTO_GRPC_ADDR: crypto.address,
      CRYPTO_SERVICE_TOKEN: token,
    });
    services.push(wallet);
    const http = new WalletHttp(`http://${wallet.address}`);
    const user = await userWithToken(http, "kms-e2e@example.com");
    const key = `sk-kms-e2e-${"q".repeat(32)}`;
    const stored = await http.call("POST", "/api/keys", {
      bearer: user.token,
      body: { provider: "openai", name: "main", key },
    });
    expect(stored.status).toBe(201);
    const fetched = await http.call<{ key: string }>("GET", "/api/keys/provider/openai", { bearer: user.token });
    expect(fetched.status).toBe(200);
    expect(fetched.json.key).toBe(key);

    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    const channel = new grpc.Client(crypto.address, grpc.credentials.createInsecure());
    const listed = await createClient(CryptoService, channel).listKeys(
      { pageSize: 10 },
      { metadata, timeoutMs: 10_000 },
    );
    channel.close();
    const wrappers = new Set(listed.keys.flatMap((k) => k.versions.map((v) => v.wrappingKeyId)));
    expect(wrappers.size).toBe(1);
    expect([...wrappers][0]).toContain(keyId);

    // Cold restart on the same address is not possible (ports are picked free), so the wallet
    // gets a new crypto to talk to: a second crypto process on the same data, then the old one stops.
    await crypto.stop();
    crypto = await bootCrypto();
    const wallet2 = await startWallet("wallet-2", {
      WALLET_DATA_DIR: join(dir, "wallet"),
      CRYPTO_GRPC_ADDR: crypto.address,
      CRYPTO_SERVICE_TOKEN: token,
    });
    services.push(wallet2);
    const again = await new WalletHttp(`http://${wallet2.address}`).call<{ key: string }>(
      "GET",
      "/api/keys/provider/openai",
      { bearer: user.token },
    );
    expect(again.status).toBe(200);
    expect(again.json.key).toBe(key);
  });
});
