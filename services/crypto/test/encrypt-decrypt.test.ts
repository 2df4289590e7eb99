import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codeOf, type Harness, startHarness, utf8 } from "./support/harness.ts";

describe("Encrypt / Decrypt over gRPC", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.stop();
  });

  it("round-trips a plaintext and creates version 1 on first use", async () => {
    const secret = "sk-proj-roundtrip-0123456789";
    const enc = await h.client.encrypt(
      { keyName: "user/alice", plaintext: utf8(secret), context: utf8("rec1/key") },
      h.auth,
    );
    expect(enc.keyVersion).toBe(1);
    expect(enc.ciphertext).toMatch(/^cvw:v1:[A-Za-z0-9_-]+$/);
    expect(enc.ciphertext).not.toContain(secret);
    const dec = await h.client.decrypt(
      { keyName: "user/alice", ciphertext: enc.ciphertext, context: utf8("rec1/key") },
      h.auth,
    );
    expect(new TextDecoder().decode(dec.plaintext)).toBe(secret);
    expect(dec.keyVersion).toBe(1);
  });

  it("refuses a ciphertext under another context or another key with INVALID_ARGUMENT", async () => {
    const enc = await h.client.encrypt(
      { keyName: "user/bob", plaintext: utf8("x"), context: utf8("rec1/key") },
      h.auth,
    );
    await h.client.encrypt({ keyName: "user/carol", plaintext: utf8("y"), context: utf8("rec1/key") }, h.auth);
    expect(
      await codeOf(
        h.client.decrypt({ keyName: "user/bob", ciphertext: enc.ciphertext, context: utf8("rec2/key") }, h.auth),
      ),
    ).toBe(grpc.status.INVALID_ARGUMENT);
    expect(
      await codeOf(
        h.client.decrypt({ keyName: "user/carol", ciphertext: enc.ciphertext, context: utf8("rec1/key") }, h.auth),
      ),
    ).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("answers UNAUTHENTICATED without or with a wrong token, and logs no presented value", async () => {
    const wrong = new grpc.Metadata();
    wrong.set("authorization", "Bearer not-the-token-0123456789abcdef");
    expect(await codeOf(h.client.encrypt({ keyName: "user/a", plaintext: utf8("p") }, { timeoutMs: 5000 }))).toBe(
      grpc.status.UNAUTHENTICATED,
    );
    expect(
      await codeOf(h.client.encrypt({ keyName: "user/a", plaintext: utf8("p") }, { metadata: wrong, timeoutMs: 5000 })),
    ).toBe(grpc.status.UNAUTHENTICATED);
    const refused = h.logs.entries().filter((e) => e.audit === "crypto.auth.refused");
    expect(refused.map((e) => e.reason)).toEqual(["no credentials", "wrong token"]);
    expect(h.logs.text()).not.toContain("not-the-token-0123456789abcdef");
    expect(h.logs.text()).not.toContain(h.token);
  });
});
