// The keyring's mongoose schemas, checked without a server: validation, casting, indexes.
import mongoose from "mongoose";
import { describe, expect, it } from "vitest";
import { tenantKeySchema, tenantKeyVersionSchema } from "../src/store/mongo/schemas.ts";

const Key = mongoose.model("SchemaTestKey", tenantKeySchema);
const Version = mongoose.model("SchemaTestKeyVersion", tenantKeyVersionSchema);

const valid = {
  name: "user/abc",
  version: 1,
  dekId: "d1",
  wrappedDek: Buffer.from([1, 2, 3]),
  wrappingKeyId: "local:x",
  createdAt: new Date(),
};

describe("keyring mongoose schemas", () => {
  it("declares the unique (name, version) index that serializes racing rotations", () => {
    expect(tenantKeyVersionSchema.indexes()).toContainEqual([
      { name: 1, version: 1 },
      expect.objectContaining({ unique: true }),
    ]);
  });

  it("accepts a valid version and casts its fields", async () => {
    const doc = new Version({ ...valid, version: "2", createdAt: "2026-01-01T00:00:00Z" });
    await expect(doc.validate()).resolves.toBeUndefined();
    expect(doc.version).toBe(2);
    expect(doc.createdAt).toBeInstanceOf(Date);
    expect(doc.encryptionCount).toBe(0);
    expect(Buffer.isBuffer(doc.wrappedDek)).toBe(true);
  });

  it("rejects versions out of range, non-integers and missing material", async () => {
    await expect(new Version({ ...valid, version: 0 }).validate()).rejects.toThrow(/version/);
    await expect(new Version({ ...valid, version: 1.5 }).validate()).rejects.toThrow(/version/);
    await expect(new Version({ ...valid, version: 2 ** 32 }).validate()).rejects.toThrow(/version/);
    await expect(new Version({ ...valid, wrappedDek: undefined }).validate()).rejects.toThrow(/wrappedDek/);
    await expect(new Version({ ...valid, encryptionCount: -1 }).validate()).rejects.toThrow(/encryptionCount/);
  });

  it("refuses fields it does not declare (a plaintext DEK cannot be stored by mistake)", () => {
    expect(() => new Version({ ...valid, dek: Buffer.alloc(32) })).toThrow(/dek/);
  });

  it("defaults the minimum decryption version to 1 and keeps it a positive integer", async () => {
    const key = new Key({ _id: "user/abc", createdAt: new Date() });
    expect(key.minDecryptionVersion).toBe(1);
    await expect(
      new Key({ _id: "user/abc", createdAt: new Date(), minDecryptionVersion: 0 }).validate(),
    ).rejects.toThrow(/minDecryptionVersion/);
  });
});
