// The server closes client connections once they reach their age (GOAWAY, then a grace period),
// so a long-lived client channel reconnects, re-resolving the name, and meets replicas added
// since. What must hold: a channel configured as the wallet's is (round_robin, quick
// reconnects) keeps every call succeeding across those GOAWAYs. A TCP relay in front of the
// server counts the connections the channel opens, so the test sees that the server did close them.
import net from "node:net";
import { createClient } from "@cv-wallet/common/grpc";
import { CryptoService } from "@cv-wallet/proto/crypto/v1";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness, utf8 } from "./support/harness.ts";

/** Relays TCP to `target`, counting connections and those the server side ended first. */
async function relay(target: string) {
  const i = target.lastIndexOf(":");
  const stats = { connections: 0, endedByServer: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    stats.connections++;
    const upstream = net.connect(Number(target.slice(i + 1)), target.slice(0, i));
    let clientGone = false;
    client.on("close", () => {
      clientGone = true;
      upstream.destroy();
    });
    upstream.on("close", () => {
      if (!clientGone) stats.endedByServer++;
      client.destroy();
    });
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("connections closed for age", () => {
  let h: Harness;
  let proxy: Awaited<ReturnType<typeof relay>>;
  let channel: grpc.Client;
  beforeAll(async () => {
    // A short age so that a few seconds of calls cross several GOAWAYs (production: 30 min).
    h = await startHarness({ maxConnectionAgeMs: 500 });
    proxy = await relay(h.server.address);
    // The wallet's channel options (services/wallet/src/clients/crypto.ts): round_robin, fast reconnects.
    channel = new grpc.Client(proxy.address, grpc.credentials.createInsecure(), {
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 1000,
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
      "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    });
  });
  afterAll(async () => {
    channel?.close();
    await proxy?.close();
    await h?.stop();
  });

  it("a long-lived channel's calls keep succeeding while the server closes its connections", async () => {
    const client = createClient(CryptoService, channel);
    const failures: string[] = [];
    let calls = 0;
    // Four callers at once, so calls are in flight when a GOAWAY arrives. They stop once the
    // channel has had to open its fifth connection, or after 20 s at most.
    const until = Date.now() + 20_000;
    await Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        while (proxy.stats.connections < 5 && Date.now() < until) {
          const text = `m${w}-${calls++}`;
          try {
            const sealed = await client.encrypt(
              { keyName: "user/age", plaintext: utf8(text), context: utf8("c") },
              h.auth,
            );
            const opened = await client.decrypt(
              { keyName: "user/age", ciphertext: sealed.ciphertext, context: utf8("c") },
              h.auth,
            );
            if (Buffer.from(opened.plaintext).toString() !== text) failures.push(`${text}: wrong plaintext`);
          } catch (error) {
            failures.push(`${text}: ${(error as Error).message}`);
          }
        }
      }),
    );
    // The server ended connections (the channel did not give them up) and had to reconnect...
    expect(proxy.stats.connections, `${calls} calls`).toBeGreaterThanOrEqual(5);
    expect(proxy.stats.endedByServer).toBeGreaterThanOrEqual(1);
    // ...and not one call failed across those GOAWAYs.
    expect(failures.slice(0, 5)).toEqual([]);
    expect(calls).toBeGreaterThan(8);
  }, 40_000);
});
