// What mongoose can check without a server, always run: the declared indexes carry the
// uniqueness rules, and schema validation and casting refuse malformed documents.
import mongoose from "mongoose";
import { afterAll, describe, expect, it } from "vitest";
import { newId } from "../../src/domain/ids.ts";
import { walletModels } from "../../src/store/mongo/mongo-store.ts";

const connection = mongoose.createConnection();
const models = walletModels(connection);
afterAll(async () => {
  await connection.close();
});

/** The paths validation refuses (mongoose 10 drops validateSync). */
async function invalidPaths(doc: { validate(): Promise<void> }): Promise<string[]> {
  try {
    await doc.validate();
    return [];
  } catch (error) {
    return Object.keys((error as mongoose.Error.ValidationError).errors);
  }
}

function index(model: mongoose.Model<never>, fields: Record<string, 1 | -1>) {
  return model.schema.indexes().find(([f]) => JSON.stringify(f) === JSON.stringify(fields));
}

describe("mongoose schemas (no server)", () => {
  it("api keys: unique (owner, provider, name) and one default per (owner, provider)", () => {
    const keys = models.keys as unknown as mongoose.Model<never>;
    expect(index(keys, { userId: 1, provider: 1, name: 1 })?.[1]).toMatchObject({ unique: true });
    expect(index(keys, { userId: 1, provider: 1 })?.[1]).toMatchObject({
      unique: true,
      partialFilterExpression: { isDefault: true },
    });
    // The first page of a listing is served from an index in sort order.
    expect(index(keys, { userId: 1, createdAt: -1, _id: -1 })).toBeDefined();
  });

  it("sessions expire through a TTL index; secrets are looked up by unique hash", () => {
    const sessions = models.sessions as unknown as mongoose.Model<never>;
    expect(index(sessions, { expiresAt: 1 })?.[1]).toMatchObject({ expireAfterSeconds: 0 });
    expect(index(sessions, { secretHash: 1 })?.[1]).toMatchObject({ unique: true });
  });

  it("users, tokens and daily usage carry their unique indexes", () => {
    expect(index(models.users as unknown as mongoose.Model<never>, { email: 1 })?.[1]).toMatchObject({ unique: true });
    expect(index(models.tokens as unknown as mongoose.Model<never>, { hash: 1 })?.[1]).toMatchObject({ unique: true });
    expect(index(models.usage as unknown as mongoose.Model<never>, { keyId: 1, day: 1 })?.[1]).toMatchObject({
      unique: true,
    });
  });

  it("casts and validates an api key document", async () => {
    const now = new Date();
    const good = new models.keys({
      _id: newId(),
      userId: newId(),
      provider: "openai",
      name: "work",
      ciphertext: "cvw:v1:abc_DEF-123",
      keyVersion: "1",
      last4: "abcd",
      usageCount: "7",
      createdAt: now.toISOString(),
      updatedAt: now,
    });
    expect(await invalidPaths(good)).toEqual([]);
    expect(good.keyVersion).toBe(1);
    expect(good.usageCount).toBe(7);
    expect(good.createdAt).toBeInstanceOf(Date);
    expect(good.isDefault).toBe(false);

    const bad = new models.keys({
      _id: "not-an-id",
      userId: newId(),
      provider: "acme",
      name: "x".repeat(101),
      // Plaintext never fits the ciphertext format.
      ciphertext: "sk-proj-plaintext",
      keyVersion: 0,
      last4: "abcde",
      createdAt: now,
      updatedAt: now,
      validation: { status: "fine" },
    });
    const errors = await invalidPaths(bad);
    expect(errors).toEqual(
      expect.arrayContaining(["_id", "provider", "name", "ciphertext", "keyVersion", "last4", "validation.status"]),
    );
  });

  it("normalizes emails and refuses unknown token scopes", async () => {
    const user = new models.users({
      _id: newId(),
      email: "  Ada@Example.COM ",
      passwordHash: "h",
      createdAt: new Date(),
    });
    expect(await invalidPaths(user)).toEqual([]);
    expect(user.email).toBe("ada@example.com");
    const token = new models.tokens({
      _id: newId(),
      userId: newId(),
      name: "cli",
      hash: "f".repeat(64),
      prefix: "cvw_abcd",
      scopes: ["keys:read", "admin"],
      providers: ["openai", "acme"],
      createdAt: new Date(),
      expiresAt: new Date(),
    });
    const errors = await invalidPaths(token);
    expect(errors).toEqual(expect.arrayContaining(["scopes.1", "providers.1"]));
  });
  it("reminders: the scan has its index, a claim is unique per (key, notice), a key reads its notices", async () => {
    const keys = models.keys as unknown as mongoose.Model<never>;
    expect(index(keys, { expiresAt: 1, _id: 1 })?.[1]).toMatchObject({ name: "due_for_reminder" });
    expect(index(models.noticeClaims as unknown as mongoose.Model<never>, { keyId: 1 })).toBeDefined();
    const at = new Date();
    const key = new models.keys({
      _id: newId(),
      userId: newId(),
      provider: "openai",
      name: "work",
      ciphertext: "cvw:v1:abc",
      keyVersion: 1,
      last4: "abcd",
      createdAt: at,
      updatedAt: at,
      notices: { expiring: at.toISOString(), invalid: at },
    });
    expect(await invalidPaths(key)).toEqual([]);
    expect(key.notices?.expiring).toEqual(at);
    const claim = new models.noticeClaims({ _id: `${newId()}:expired`, keyId: "x", notice: "late", at });
    expect(await invalidPaths(claim)).toEqual(expect.arrayContaining(["keyId", "notice"]));
  });

  it("webhooks: keyed by their owner (one each), only ciphertext, deliveries apart", async () => {
    const now = new Date();
    const owner = newId();
    const hook = new models.webhooks({
      _id: owner,
      id: newId(),
      ciphertext: "cvw:v1:abc_DEF-123",
      keyVersion: 1,
      host: "hooks.slack.com",
      hint: "hooks.slack.com…abcd",
      createdAt: now,
      updatedAt: now,
    });
    expect(await invalidPaths(hook)).toEqual([]);
    const plain = new models.webhooks({
      _id: owner,
      id: "nope",
      ciphertext: "https://hooks.slack.com/services/T000/B000/XXXX",
      keyVersion: 0,
      host: "hooks.slack.com",
      hint: "x",
      createdAt: now,
      updatedAt: now,
    });
    expect(await invalidPaths(plain)).toEqual(expect.arrayContaining(["id", "ciphertext", "keyVersion"]));
    expect(index(models.webhookDeliveries as unknown as mongoose.Model<never>, { userId: 1 })).toBeDefined();
  });
});
