// The protovalidate rules in the contracts are behaviour both services rely on: these
// tests pin the ones that guard secrets and identifiers.
import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator } from "@bufbuild/protovalidate";
import { describe, expect, it } from "vitest";
import { DecryptRequestSchema, EncryptRequestSchema } from "../gen/cvwallet/crypto/v1/crypto_pb.js";
import { readImage } from "../src/image.ts";
import { CreateKeyRequestSchema, CreateTokenRequestSchema, WalletService } from "../src/wallet.ts";

const validator = createValidator();

function violations<D extends DescMessage>(schema: D, init: MessageInitShape<D>): string[] {
  const result = validator.validate(schema, create(schema, init));
  if (result.kind === "error") throw result.error;
  return result.violations?.map((v) => `${pathToString(v.field)}:${v.ruleId}`) ?? [];
}

describe("crypto contract", () => {
  it("accepts tenant key names and rejects path tricks", () => {
    expect(violations(EncryptRequestSchema, { keyName: "user/6650c0ffee" })).toEqual([]);
    for (const bad of ["", "/user/1", "user//1", "../x", "user/1/", "a b"]) {
      expect(violations(EncryptRequestSchema, { keyName: bad }), bad).not.toEqual([]);
    }
  });

  it("bounds plaintext at 64 KiB", () => {
    const ok = { keyName: "k", plaintext: new Uint8Array(65536) };
    expect(violations(EncryptRequestSchema, ok)).toEqual([]);
    expect(violations(EncryptRequestSchema, { ...ok, plaintext: new Uint8Array(65537) })).toEqual([
      "plaintext:bytes.max_len",
    ]);
  });

  it("requires a ciphertext to decrypt", () => {
    expect(violations(DecryptRequestSchema, { keyName: "k", ciphertext: "" })).toEqual(["ciphertext:string.min_len"]);
  });
});

describe("wallet contract", () => {
  const key = { provider: "openai", name: "work", key: "sk-proj-abcdefgh1234" };

  it("accepts the nine providers and nothing else", () => {
    for (const provider of ["openai", "anthropic", "google", "mistral", "cohere", "groq", "together", "openrouter"]) {
      expect(violations(CreateKeyRequestSchema, { ...key, provider })).toEqual([]);
    }
    expect(violations(CreateKeyRequestSchema, { ...key, provider: "OpenAI" })).toEqual(["provider:string.in"]);
  });

  it("rejects keys with whitespace or control characters and names with newlines", () => {
    expect(violations(CreateKeyRequestSchema, { ...key, key: "sk-abc def ghi" })).toEqual(["key:string.pattern"]);
    expect(violations(CreateKeyRequestSchema, { ...key, name: "a\nb" })).toEqual(["name:string.pattern"]);
  });

  it("only knows the three token scopes, each once", () => {
    expect(violations(CreateTokenRequestSchema, { name: "cli", scopes: ["keys:read"] })).toEqual([]);
    expect(violations(CreateTokenRequestSchema, { name: "cli", scopes: [] })).toEqual(["scopes:repeated.min_items"]);
    expect(violations(CreateTokenRequestSchema, { name: "cli", scopes: ["admin"] })).toEqual(["scopes[0]:string.in"]);
    expect(violations(CreateTokenRequestSchema, { name: "cli", scopes: ["keys:read", "keys:read"] })).toEqual([
      "scopes:repeated.unique",
    ]);
  });

  it("names cv-git's retrieval method in the service", () => {
    expect(WalletService.method.getProviderKey.name).toBe("GetProviderKey");
  });
});

describe("descriptor image", () => {
  it("holds both services for reflection", () => {
    const image = readImage().toString("latin1");
    expect(image).toContain("cvwallet.crypto.v1");
    expect(image).toContain("CryptoService");
    expect(image).toContain("WalletService");
  });
});
