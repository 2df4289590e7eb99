// The store contract: every adapter (SQLite, MongoDB) must pass the same suite.
import { AppError } from "@cv-wallet/common/errors";
import { reportDifference } from "@cv-wallet/common/testing/servers";
import { beforeEach, describe, expect, it } from "vitest";
import { newId } from "../../src/domain/ids.ts";
import type {
  AuditRecord,
  DeviceRequestRecord,
  KeyRecord,
  Store,
  TeamRecord,
  UserRecord,
  WebhookDeliveryRecord,
  WebhookRecord,
} from "../../src/store/port.ts";

const DAY = 86_400_000;

/** What the server under an adapter is known not to do, each with its reason (printed when it matters). */
export interface ServerLimits {
  /** Set when concurrent updates of one document can lose writes (FerretDB v1): those uses run one at a time. */
  concurrentUpdatesOfOneDocument?: string;
}

export function storeContract(name: string, open: () => Promise<Store | undefined>, limits: ServerLimits = {}): void {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    let user: UserRecord;
    /** Runs the calls at once, or one after another (saying why) on a server that would lose some. */
    const atOnce = async <T>(test: string, calls: (() => Promise<T>)[]): Promise<T[]> => {
      if (!limits.concurrentUpdatesOfOneDocument) return Promise.all(calls.map((c) => c()));
      reportDifference(
        `wallet store contract (${name}), "${test}"`,
        `run one at a time: ${limits.concurrentUpdatesOfOneDocument}`,
      );
      const results: T[] = [];
      for (const c of calls) results.push(await c());
      return results;
    };

    beforeEach(async (ctx) => {
      const s = await open();
      if (!s) return ctx.skip();
      store = s;
      user = { id: newId(), email: `${newId()}@example.com`, passwordHash: "$argon2id$x", createdAt: new Date() };
      await store.users.create(user);
      return async () => {
        await store.close();
      };
    });

    const key = (over: Partial<KeyRecord> = {}): KeyRecord => {
      const now = new Date();
      return {
        id: newId(),
        userId: user.id,
        provider: "openai",
        name: `key-${newId()}`,
        ciphertext: "cvw:v1:AAAA",
        keyVersion: 1,
        last4: "abcd",
        isDefault: false,
        usageCount: 0,
        createdAt: now,
        updatedAt: now,
        ...over,
      };
    };

    const code = async (p: Promise<unknown>) => {
      try {
        await p;
        return "ok";
      } catch (e) {
        return e instanceof AppError ? e.code : `raw:${(e as Error).message}`;
      }
    };

    it("users: unique email (already_exists, never a raw error), lookups, delete cascades", async () => {
      expect(await store.users.byEmail(user.email)).toMatchObject({ id: user.id });
      expect(await store.users.byId(user.id)).toMatchObject({ email: user.email });
      expect(await code(store.users.create({ ...user, id: newId() }))).toBe("already_exists");
      const k = key();
      await store.keys.create(k);
      await store.users.delete(user.id);
      expect(await store.users.byId(user.id)).toBeUndefined();
      expect(await store.keys.get(user.id, k.id)).toBeUndefined();
    });

    it("sessions: found by secret hash until they expire", async () => {
      const now = new Date();
      await store.sessions.create({
        id: newId(),
        secretHash: "a".repeat(64),
        userId: user.id,
        createdAt: now,
        expiresAt: new Date(now.getTime() + 60_000),
      });
      expect(await store.sessions.bySecretHash("a".repeat(64), now)).toMatchObject({ userId: user.id });
      expect(await store.sessions.bySecretHash("a".repeat(64), new Date(now.getTime() + 61_000))).toBeUndefined();
      const s = await store.sessions.bySecretHash("a".repeat(64), now);
      await store.sessions.delete(s!.id);
      expect(await store.sessions.bySecretHash("a".repeat(64), now)).toBeUndefined();
    });

    it("sessions: listed per user (newest seen first, unexpired), touched, ended one or all others", async () => {
      const now = new Date();
      const make = async (owner: string, seenAgoMs: number, ttlMs = 60_000) => {
        const id = newId();
        await store.sessions.create({
          id,
          secretHash: newId().padEnd(64, "c"),
          userId: owner,
          createdAt: new Date(now.getTime() - 120_000),
          expiresAt: new Date(now.getTime() + ttlMs),
          address: "192.0.2.7",
          userAgent: "Firefox/140.0",
          lastSeenAt: new Date(now.getTime() - seenAgoMs),
        });
        return id;
      };
      const other: UserRecord = { ...user, id: newId(), email: `${newId()}@example.com` };
      await store.users.create(other);
      const old = await make(user.id, 50_000);
      const recent = await make(user.id, 1_000);
      const expired = await make(user.id, 0, -1);
      const theirs = await make(other.id, 0);
      const listed = await store.sessions.listByUser(user.id, now);
      expect(listed.map((x) => x.id)).toEqual([recent, old]);
      expect(listed[0]).toMatchObject({ address: "192.0.2.7", userAgent: "Firefox/140.0" });
      await store.sessions.touch(old, now);
      expect((await store.sessions.listByUser(user.id, now)).map((x) => x.id)).toEqual([old, recent]);
      expect(await store.sessions.deleteOwned(other.id, old)).toBe(false);
      expect(await store.sessions.deleteOwned(user.id, old)).toBe(true);
      await make(user.id, 0);
      expect(await store.sessions.deleteOthers(user.id, recent)).toBe(2); // the new one and the expired one
      expect((await store.sessions.listByUser(user.id, now)).map((x) => x.id)).toEqual([recent]);
      expect((await store.sessions.listByUser(other.id, now)).map((x) => x.id)).toEqual([theirs]);
      expect(expired).toBeTruthy();
      await store.users.setPasswordHash(user.id, "$argon2id$new");
      expect((await store.users.byId(user.id))?.passwordHash).toBe("$argon2id$new");
    });

    it("tokens: create, find by hash, list, revoke once, touch", async () => {
      const t = {
        id: newId(),
        userId: user.id,
        name: "cli",
        hash: "b".repeat(64),
        prefix: "cvw_abcd",
        scopes: ["keys:read"],
        providers: ["openai"],
        createdAt: new Date(),
        expiresAt: new Date(Date.now() + DAY),
      };
      await store.tokens.create(t);
      expect(await code(store.tokens.create({ ...t, id: newId() }))).toBe("already_exists");
      expect(await store.tokens.byHash(t.hash)).toMatchObject({
        id: t.id,
        scopes: ["keys:read"],
        providers: ["openai"],
      });
      expect((await store.tokens.list(user.id)).map((x) => x.id)).toEqual([t.id]);
      const at = new Date();
      await store.tokens.touch(t.id, at);
      expect((await store.tokens.get(user.id, t.id))?.lastUsedAt?.getTime()).toBe(at.getTime());
      expect(await store.tokens.revoke("0".repeat(24), t.id, at)).toEqual([]);
      expect(await store.tokens.revoke(user.id, t.id, at)).toEqual([t.id]);
      expect(await store.tokens.revoke(user.id, t.id, at)).toEqual([]);
      expect((await store.tokens.byHash(t.hash))?.revokedAt).toBeInstanceOf(Date);
      const found = await store.tokens.byHashWithUser(t.hash);
      expect(found?.token).toMatchObject({ id: t.id, userId: user.id, scopes: ["keys:read"] });
      expect(found?.token.revokedAt).toBeInstanceOf(Date);
      expect(found?.user).toEqual(user);
      expect(await store.tokens.byHashWithUser("f".repeat(64))).toBeUndefined();
    });

    it("tokens: revoking one revokes its whole lineage (through revoked ones), nothing else", async () => {
      const make = async (parentId?: string, owner = user.id) => {
        const t = {
          id: newId(),
          userId: owner,
          name: "t",
          hash: newId().padEnd(64, "0"),
          prefix: "cvw_abcd",
          scopes: ["tokens:write"],
          providers: [],
          createdAt: new Date(),
          expiresAt: new Date(Date.now() + DAY),
          parentId,
        };
        await store.tokens.create(t);
        return t.id;
      };
      const root = await make();
      const child = await make(root);
      const sibling = await make(root);
      const grandchild = await make(child);
      const greatGrandchild = await make(grandchild);
      const unrelated = await make();
      expect((await store.tokens.get(user.id, child))?.parentId).toBe(root);
      expect((await store.tokens.get(user.id, root))?.parentId).toBeUndefined();
      // An already revoked middle token still passes revocation down to its descendants.
      expect(await store.tokens.revoke(user.id, grandchild, new Date())).toEqual([grandchild, greatGrandchild]);
      const late = await make(grandchild);
      const revoked = await store.tokens.revoke(user.id, root, new Date());
      expect(revoked[0]).toBe(root);
      expect(new Set(revoked)).toEqual(new Set([root, child, sibling, late]));
      for (const id of [root, child, sibling, grandchild, greatGrandchild, late]) {
        expect((await store.tokens.get(user.id, id))?.revokedAt, id).toBeInstanceOf(Date);
      }
      expect((await store.tokens.get(user.id, unrelated))?.revokedAt).toBeUndefined();
    });

    it("keys: (owner, provider, name) is unique; another owner may reuse the name", async () => {
      const k = key({ name: "work" });
      await store.keys.create(k);
      expect(await code(store.keys.create(key({ name: "work" })))).toBe("already_exists");
      await store.keys.create(key({ name: "work", provider: "anthropic" }));
      const other: UserRecord = { ...user, id: newId(), email: `${newId()}@example.com` };
      await store.users.create(other);
      await store.keys.create(key({ name: "work", userId: other.id }));
      expect(await store.keys.get(other.id, k.id)).toBeUndefined();
    });

    it("keys: at most one default per provider; a new default replaces the old", async () => {
      const a = key({ isDefault: true });
      const b = key({ isDefault: true });
      await store.keys.create(a);
      await store.keys.create(b);
      expect((await store.keys.get(user.id, a.id))?.isDefault).toBe(false);
      expect((await store.keys.get(user.id, b.id))?.isDefault).toBe(true);
      expect(await store.keys.hasDefault(user.id, "openai")).toBe(true);
      await store.keys.update(user.id, a.id, { isDefault: true, updatedAt: new Date() });
      expect((await store.keys.get(user.id, b.id))?.isDefault).toBe(false);
      expect((await store.keys.forProvider(user.id, "openai"))?.id).toBe(a.id);
      expect((await store.keys.forProvider(user.id, "openai", b.name))?.id).toBe(b.id);
      expect(await store.keys.forProvider(user.id, "openai", "nope")).toBeUndefined();
      expect(await store.keys.forProvider(user.id, "groq")).toBeUndefined();
    });

    it("keys: concurrent default switches leave exactly one default; a losing switch is already_exists", async () => {
      const all = Array.from({ length: 8 }, (_, i) => key({ name: `k${i}`, isDefault: i === 0 }));
      for (const k of all) await store.keys.create(k);
      const outcomes = await atOnce(
        "concurrent default switches",
        all.map((k) => () => code(store.keys.update(user.id, k.id, { isDefault: true, updatedAt: new Date() }))),
      );
      // With a unique index a switch can lose the race (already_exists); without one the last wins.
      expect(outcomes.filter((o) => o !== "ok" && o !== "already_exists")).toEqual([]);
      expect(outcomes).toContain("ok");
      const defaults = (await store.keys.list(user.id, { provider: "openai" }, 50)).items.filter((k) => k.isDefault);
      expect(defaults).toHaveLength(1);
      expect(await store.keys.hasDefault(user.id, "openai")).toBe(true);
      expect((await store.keys.forProvider(user.id, "openai"))?.id).toBe(defaults[0]!.id);
    });

    it("keys: without a default the newest key of the provider is picked", async () => {
      await store.keys.create(key({ createdAt: new Date(Date.now() - 5000) }));
      const newer = key();
      await store.keys.create(newer);
      expect((await store.keys.forProvider(user.id, "openai"))?.id).toBe(newer.id);
    });

    it("keys: list pages newest first with an opaque cursor and filters", async () => {
      const base = Date.now() - 100_000;
      const made: KeyRecord[] = [];
      for (let i = 0; i < 5; i++) {
        const k = key({
          createdAt: new Date(base + i * 1000),
          provider: i % 2 ? "anthropic" : "openai",
          expiresAt: i === 1 ? new Date(Date.now() + 3 * DAY) : i === 2 ? new Date(Date.now() + 60 * DAY) : undefined,
          validation: i === 4 ? { status: "invalid", detail: "HTTP 401", checkedAt: new Date() } : undefined,
        });
        made.push(k);
        await store.keys.create(k);
      }
      const first = await store.keys.list(user.id, {}, 2);
      expect(first.items.map((k) => k.id)).toEqual([made[4]!.id, made[3]!.id]);
      const second = await store.keys.list(user.id, {}, 2, first.next);
      expect(second.items.map((k) => k.id)).toEqual([made[2]!.id, made[1]!.id]);
      const third = await store.keys.list(user.id, {}, 2, second.next);
      expect(third.items.map((k) => k.id)).toEqual([made[0]!.id]);
      expect(third.next).toBeUndefined();
      expect((await store.keys.list(user.id, { provider: "anthropic" }, 10)).items).toHaveLength(2);
      expect((await store.keys.list(user.id, { providersIn: ["openai"] }, 10)).items).toHaveLength(3);
      const soon = new Date(Date.now() + 14 * DAY);
      expect((await store.keys.list(user.id, { expiringBefore: soon }, 10)).items.map((k) => k.id)).toEqual([
        made[1]!.id,
      ]);
      expect(
        (await store.keys.list(user.id, { needsAttentionBefore: soon }, 10)).items.map((k) => k.id).sort(),
      ).toEqual([made[1]!.id, made[4]!.id].sort());
      expect(await code(store.keys.list(user.id, {}, 2, "not-a-cursor"))).toBe("invalid_argument");
    });

    it("keys: update applies set fields, clears with null, and maps a name clash to already_exists", async () => {
      const a = key({ expiresAt: new Date(Date.now() + DAY), baseUrl: "https://x.example" });
      const b = key();
      await store.keys.create(a);
      await store.keys.create(b);
      const updated = await store.keys.update(user.id, a.id, {
        name: "renamed",
        expiresAt: null,
        baseUrl: null,
        ciphertext: "cvw:v2:BBBB",
        keyVersion: 2,
        last4: "wxyz",
        validation: { status: "unverified", detail: "not checked yet" },
        updatedAt: new Date(),
      });
      expect(updated).toMatchObject({ name: "renamed", ciphertext: "cvw:v2:BBBB", keyVersion: 2, last4: "wxyz" });
      expect(updated?.expiresAt).toBeUndefined();
      expect(updated?.baseUrl).toBeUndefined();
      const clash = await code(store.keys.update(user.id, b.id, { name: "renamed", updatedAt: new Date() }));
      expect(clash).toBe("already_exists");
      expect(await store.keys.update("0".repeat(24), a.id, { name: "x", updatedAt: new Date() })).toBeUndefined();
    });

    it("keys: concurrent uses are counted exactly, with a per-day counter", async () => {
      const k = key();
      await store.keys.create(k);
      const at = new Date();
      const counts = await atOnce(
        "concurrent uses",
        Array.from({ length: 50 }, () => () => store.keys.recordUse(user.id, k.id, at)),
      );
      // Each caller gets its own count (in whatever order the store serialised them).
      expect([...counts].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      const after = await store.keys.get(user.id, k.id);
      expect(after?.usageCount).toBe(50);
      expect(after?.lastUsedAt?.getTime()).toBe(at.getTime());
      const day = at.toISOString().slice(0, 10);
      expect((await store.keys.usage(user.id, k.id, day, day)).get(day)?.retrievals).toBe(50);
      expect(await store.keys.recordUse("0".repeat(24), k.id, at)).toBe(0);
    });

    it("keys: retrievals are counted per token, reveals apart from retrievals", async () => {
      const k = key();
      await store.keys.create(k);
      const [t1, t2] = [newId(), newId()];
      const at = new Date();
      const day = at.toISOString().slice(0, 10);
      await atOnce("uses by token", [
        () => store.keys.recordUse(user.id, k.id, at, undefined, t1),
        () => store.keys.recordUse(user.id, k.id, at, undefined, t1),
        () => store.keys.recordUse(user.id, k.id, at, undefined, t2),
        () => store.keys.recordUse(user.id, k.id, at),
      ]);
      expect(await store.keys.recordUse(user.id, k.id, at, undefined, t1)).toBe(5);
      const revealedAt = new Date(at.getTime() + 1000);
      expect(await store.keys.recordReveal(user.id, k.id, revealedAt)).toBe(1);
      expect(await store.keys.recordReveal(user.id, k.id, revealedAt)).toBe(2);
      expect(await store.keys.recordReveal(newId(), k.id, revealedAt)).toBe(0);
      const after = await store.keys.get(user.id, k.id);
      expect(after).toMatchObject({ usageCount: 5, revealCount: 2 });
      expect(after?.lastUsedAt?.getTime()).toBe(at.getTime());
      expect(after?.lastRevealedAt?.getTime()).toBe(revealedAt.getTime());
      const revealDay = revealedAt.toISOString().slice(0, 10);
      const usage = await store.keys.usage(user.id, k.id, day, revealDay);
      const total = [...usage.values()].reduce(
        (sum, d) => ({ retrievals: sum.retrievals + d.retrievals, reveals: sum.reveals + d.reveals }),
        { retrievals: 0, reveals: 0 },
      );
      expect(total).toEqual({ retrievals: 5, reveals: 2 });
      expect(usage.get(day)?.byToken).toEqual({ [t1]: 3, [t2]: 1 });
      // A key only revealed on a day still has that day, with no retrievals.
      const fresh = key({ name: "revealed-only" });
      await store.keys.create(fresh);
      await store.keys.recordReveal(user.id, fresh.id, at);
      expect((await store.keys.usage(user.id, fresh.id, day, day)).get(day)).toEqual({
        retrievals: 0,
        reveals: 1,
        byToken: {},
      });
      expect((await store.keys.get(user.id, fresh.id))?.usageCount).toBe(0);
    });

    it("keys: a key moves to another provider, taking the default there only when asked", async () => {
      const a = key({ provider: "openai", name: "a", isDefault: true });
      const b = key({ provider: "anthropic", name: "b", isDefault: true });
      await store.keys.create(a);
      await store.keys.create(b);
      const moved = await store.keys.update(user.id, a.id, {
        provider: "anthropic",
        isDefault: true,
        prefixProvider: "openai",
        updatedAt: new Date(),
      });
      expect(moved).toMatchObject({ provider: "anthropic", isDefault: true, prefixProvider: "openai" });
      expect((await store.keys.get(user.id, b.id))?.isDefault).toBe(false);
      expect(await store.keys.hasDefault(user.id, "openai")).toBe(false);
      const cleared = await store.keys.update(user.id, a.id, { prefixProvider: null, updatedAt: new Date() });
      expect(cleared?.prefixProvider).toBeUndefined();
      // (owner, provider, name) stays unique across a move.
      const other = key({ provider: "openai", name: "b" });
      await store.keys.create(other);
      expect(await code(store.keys.update(user.id, other.id, { provider: "anthropic", updatedAt: new Date() }))).toBe(
        "already_exists",
      );
      expect((await store.keys.get(user.id, other.id))?.provider).toBe("openai");
    });

    it("keys: a use and its audit event are recorded together, and neither for a stranger's key", async () => {
      const k = key();
      await store.keys.create(k);
      const event = (userId: string) => ({
        id: newId(),
        userId,
        action: "key.retrieved",
        actor: { type: "token", id: newId(), name: "cli" },
        target: { type: "key", id: k.id, name: k.name },
        time: new Date(),
        address: "127.0.0.1",
        userAgent: "test",
        details: { provider: "openai" },
      });
      expect(await store.keys.recordUse(user.id, k.id, new Date(), event(user.id))).toBe(1);
      const stranger = newId();
      expect(await store.keys.recordUse(stranger, k.id, new Date(), event(stranger))).toBe(0);
      const events = await store.audit.list(user.id, "key.retrieved", 10);
      expect(events.items.map((e) => e.target.id)).toEqual([k.id]);
      expect((await store.audit.list(stranger, undefined, 10)).items).toEqual([]);
    });

    it("keys: uses of several keys (and a stranger's) at once: exact counts, per-day counters, one event each", async () => {
      const a = key({ name: "a" });
      const b = key({ name: "b" });
      await store.keys.create(a);
      await store.keys.create(b);
      const stranger = newId();
      const today = new Date();
      const yesterday = new Date(today.getTime() - DAY);
      const event = (userId: string, id: string) => ({
        id: newId(),
        userId,
        action: "key.retrieved",
        actor: { type: "token", id: newId(), name: "cli" },
        target: { type: "key", id, name: "x" },
        time: new Date(),
        address: "127.0.0.1",
        userAgent: "test",
        details: { provider: "openai" },
      });
      const uses: [string, string, Date][] = [
        [user.id, a.id, yesterday],
        [user.id, b.id, today],
        [stranger, a.id, today],
        [user.id, a.id, today],
        [user.id, a.id, today],
        [user.id, b.id, today],
      ];
      const counts = await atOnce(
        "uses of several keys",
        uses.map(
          ([u, id, at]) =>
            () =>
              store.keys.recordUse(u, id, at, event(u, id)),
        ),
      );
      const sorted = (ix: number[]) => ix.map((i) => counts[i]).sort();
      expect([sorted([0, 3, 4]), sorted([1, 5]), counts[2]]).toEqual([[1, 2, 3], [1, 2], 0]);
      expect((await store.keys.get(user.id, a.id))?.usageCount).toBe(3);
      expect((await store.keys.get(user.id, a.id))?.lastUsedAt?.getTime()).toBe(today.getTime());
      expect((await store.keys.get(user.id, b.id))?.usageCount).toBe(2);
      const [d0, d1] = [yesterday.toISOString().slice(0, 10), today.toISOString().slice(0, 10)];
      const usage = await store.keys.usage(user.id, a.id, d0, d1);
      expect([usage.get(d0)?.retrievals, usage.get(d1)?.retrievals]).toEqual([1, 2]);
      expect((await store.audit.list(user.id, "key.retrieved", 10)).items).toHaveLength(5);
      expect((await store.audit.list(stranger, undefined, 10)).items).toEqual([]);
    });

    it("keys: validation results are stored and drive the due list", async () => {
      const old = key();
      const fresh = key();
      await store.keys.create(old);
      await store.keys.create(fresh);
      await store.keys.setValidation(user.id, fresh.id, {
        status: "valid",
        checkedAt: new Date(),
        detail: "credits left: 4.90",
        credits: { label: "x", limit: 10, limitRemaining: 4.9, usage: 5.1, isFreeTier: false },
      });
      await store.keys.setValidation(user.id, old.id, {
        status: "rate_limited",
        checkedAt: new Date(Date.now() - 2 * DAY),
        detail: "HTTP 429",
        retryAfterSeconds: 30,
      });
      expect((await store.keys.get(user.id, fresh.id))?.validation).toMatchObject({
        status: "valid",
        credits: { limitRemaining: 4.9 },
      });
      const due = await store.keys.dueForValidation(new Date(Date.now() - DAY), 10_000);
      const ids = due.map((k) => k.id);
      expect(ids).toContain(old.id);
      expect(ids).not.toContain(fresh.id);
    });

    it("keys: re-wrap pages every user's records in id order, swaps a ciphertext only if unchanged, counts old versions", async () => {
      const other: UserRecord = { ...user, id: newId(), email: `${newId()}@example.com` };
      await store.users.create(other);
      const made = [
        key({ keyVersion: 1 }),
        key({ keyVersion: 2 }),
        key({ keyVersion: 1, userId: other.id }),
        key({ keyVersion: 3, userId: other.id }),
      ];
      for (const k of made) await store.keys.create(k);
      const ids = new Set(made.map((k) => k.id));
      const seen: string[] = [];
      for (let after = ""; ; ) {
        const page = await store.keys.pageCiphertexts(after, 3);
        if (page.length === 0) break;
        seen.push(...page.map((r) => r.id));
        after = page.at(-1)!.id;
      }
      expect(seen).toEqual([...seen].sort());
      const mine = seen.filter((id) => ids.has(id));
      expect(mine).toEqual(made.map((k) => k.id).sort());
      const [first] = await store.keys
        .pageCiphertexts("", 10_000)
        .then((all) => all.filter((r) => r.id === made[0]!.id));
      expect(first).toEqual({ id: made[0]!.id, userId: user.id, ciphertext: "cvw:v1:AAAA", keyVersion: 1 });

      expect(await store.keys.countBelowVersion(user.id, 2)).toBe(1);
      expect(await store.keys.countBelowVersion(other.id, 3)).toBe(1);
      expect(await store.keys.countBelowVersion(other.id, 4)).toBe(2);

      const before = (await store.keys.get(user.id, made[0]!.id))!;
      expect(await store.keys.replaceCiphertext(made[0]!.id, "cvw:v1:stale", { ciphertext: "x", keyVersion: 9 })).toBe(
        false,
      );
      expect(
        await store.keys.replaceCiphertext(made[0]!.id, "cvw:v1:AAAA", { ciphertext: "cvw:v2:BBBB", keyVersion: 2 }),
      ).toBe(true);
      const after = (await store.keys.get(user.id, made[0]!.id))!;
      expect(after).toEqual({ ...before, ciphertext: "cvw:v2:BBBB", keyVersion: 2 });
      expect(await store.keys.countBelowVersion(user.id, 2)).toBe(0);
      expect(await store.keys.replaceCiphertext(newId(), "cvw:v1:AAAA", { ciphertext: "x", keyVersion: 9 })).toBe(
        false,
      );
      await store.users.delete(other.id);
    });

    it("keys: delete only the owner's record", async () => {
      const k = key();
      await store.keys.create(k);
      expect(await store.keys.delete("0".repeat(24), k.id)).toBe(false);
      expect(await store.keys.delete(user.id, k.id)).toBe(true);
      expect(await store.keys.get(user.id, k.id)).toBeUndefined();
    });

    it("audit: prune deletes only events older than the cut-off, across users", async () => {
      const other: UserRecord = { ...user, id: newId(), email: `${newId()}@example.com` };
      await store.users.create(other);
      const event = (userId: string, daysAgo: number) => ({
        id: newId(),
        userId,
        action: "key.retrieved",
        actor: { type: "token", id: newId(), name: "cv-git" },
        target: { type: "key", id: newId(), name: "k" },
        time: new Date(Date.now() - daysAgo * DAY),
        address: "127.0.0.1",
        userAgent: "test",
        details: {},
      });
      for (const [owner, days] of [
        [user.id, 100],
        [user.id, 91],
        [other.id, 95],
        [user.id, 89],
        [other.id, 1],
      ] as const) {
        await store.audit.append(event(owner, days));
      }
      expect(await store.audit.prune(new Date(Date.now() - 90 * DAY))).toBe(3);
      expect((await store.audit.list(user.id, undefined, 10)).items).toHaveLength(1);
      expect((await store.audit.list(other.id, undefined, 10)).items).toHaveLength(1);
      expect(await store.audit.prune(new Date(Date.now() - 90 * DAY))).toBe(0);
    });

    it("audit: append, list newest first, filter by action, page", async () => {
      const base = Date.now();
      for (let i = 0; i < 3; i++) {
        await store.audit.append({
          id: newId(),
          userId: user.id,
          action: i === 1 ? "key.revealed" : "key.retrieved",
          actor: { type: "token", id: newId(), name: "cli" },
          target: { type: "key", id: newId(), name: "work" },
          time: new Date(base + i),
          address: "127.0.0.1",
          userAgent: "test",
          details: { provider: "openai" },
        });
      }
      const all = await store.audit.list(user.id, undefined, 2);
      expect(all.items).toHaveLength(2);
      expect(all.items[0]!.time.getTime()).toBe(base + 2);
      expect(all.items[0]!.details).toEqual({ provider: "openai" });
      expect((await store.audit.list(user.id, undefined, 2, all.next)).items).toHaveLength(1);
      expect((await store.audit.list(user.id, "key.revealed", 10)).items).toHaveLength(1);
      // A time range: from inclusive, to exclusive, with the action filter and paging.
      const at = (ms: number) => new Date(base + ms);
      const ranged = await store.audit.list(user.id, undefined, 10, undefined, { from: at(1), to: at(2) });
      expect(ranged.items.map((e) => e.time.getTime())).toEqual([base + 1]);
      expect((await store.audit.list(user.id, undefined, 10, undefined, { from: at(1) })).items).toHaveLength(2);
      expect((await store.audit.list(user.id, undefined, 10, undefined, { to: at(1) })).items).toHaveLength(1);
      expect((await store.audit.list(user.id, "key.retrieved", 10, undefined, { from: at(1) })).items).toHaveLength(1);
      const first = await store.audit.list(user.id, undefined, 1, undefined, { from: at(0), to: at(2) });
      expect(first.items.map((e) => e.time.getTime())).toEqual([base + 1]);
      const second = await store.audit.list(user.id, undefined, 1, first.next, { from: at(0), to: at(2) });
      expect(second.items.map((e) => e.time.getTime())).toEqual([base]);
      expect(second.next).toBeUndefined();
    });

    it("audit: a target's events of some actions, newest first, limited, only the user's", async () => {
      const base = Date.now();
      const keyId = newId();
      const event = (i: number, action: string, targetId: string, userId = user.id) => ({
        id: newId(),
        userId,
        action,
        actor: { type: "token", id: newId(), name: "cli" },
        target: { type: "key", id: targetId, name: "work" },
        time: new Date(base + i),
        address: "127.0.0.1",
        userAgent: "test",
        details: { provider: "openai", client: `cv-git/${i}`, host: "laptop" },
      });
      const other: UserRecord = { ...user, id: newId(), email: `${newId()}@example.com` };
      await store.users.create(other);
      await store.audit.append(event(0, "key.retrieved", keyId));
      await store.audit.append(event(1, "key.viewed", keyId));
      await store.audit.append(event(2, "key.revealed", keyId));
      await store.audit.append(event(3, "key.retrieved", newId()));
      await store.audit.append(event(4, "key.retrieved", keyId, other.id));
      await store.audit.append(event(5, "key.retrieved", keyId));
      const found = await store.audit.listForTarget(user.id, keyId, ["key.retrieved", "key.revealed"], 10);
      expect(found.map((e) => e.details.client)).toEqual(["cv-git/5", "cv-git/2", "cv-git/0"]);
      expect(found[0]!.details).toEqual({ provider: "openai", client: "cv-git/5", host: "laptop" });
      expect(await store.audit.listForTarget(user.id, keyId, ["key.retrieved", "key.revealed"], 2)).toHaveLength(2);
      expect(await store.audit.listForTarget(user.id, keyId, [], 10)).toEqual([]);
    });

    const deviceRequest = (over: Partial<DeviceRequestRecord> = {}): DeviceRequestRecord => {
      const now = new Date();
      return {
        id: newId(),
        deviceCodeHash: newId().padEnd(64, "a"),
        userCodeHash: newId().padEnd(64, "b"),
        clientId: "cvw",
        clientHost: "laptop",
        clientRepository: "github.com/acme/app",
        tokenName: "cvw on laptop",
        address: "127.0.0.1",
        userAgent: "cvw/0.1.0",
        scopes: ["keys:read", "keys:write"],
        providers: ["openai"],
        createdAt: now,
        expiresAt: new Date(now.getTime() + 600_000),
        intervalSeconds: 5,
        status: "pending",
        ...over,
      };
    };

    it("device requests: created, found by either code hash, codes unique", async () => {
      const r = deviceRequest();
      await store.deviceRequests.create(r);
      const byUser = await store.deviceRequests.byUserCodeHash(r.userCodeHash);
      expect(byUser).toEqual({
        ...r,
        lastPolledAt: undefined,
        userId: undefined,
        decidedAt: undefined,
        decidedBy: undefined,
        grant: undefined,
        tokenId: undefined,
      });
      expect(await store.deviceRequests.byDeviceCodeHash(r.deviceCodeHash)).toMatchObject({ id: r.id });
      expect(await store.deviceRequests.byUserCodeHash("c".repeat(64))).toBeUndefined();
      expect(await code(store.deviceRequests.create(deviceRequest({ userCodeHash: r.userCodeHash })))).toBe(
        "already_exists",
      );
      expect(await code(store.deviceRequests.create(deviceRequest({ deviceCodeHash: r.deviceCodeHash })))).toBe(
        "already_exists",
      );
    });

    it("device requests: a poll stamps the time and a too-early one raises the interval by 5 s", async () => {
      const r = deviceRequest();
      await store.deviceRequests.create(r);
      const t0 = new Date();
      expect(await store.deviceRequests.poll("d".repeat(64), t0)).toBeUndefined();
      const first = await store.deviceRequests.poll(r.deviceCodeHash, t0);
      expect(first).toMatchObject({ tooSoon: false, request: { intervalSeconds: 5 } });
      expect(first!.request.lastPolledAt?.getTime()).toBe(t0.getTime());
      const early = await store.deviceRequests.poll(r.deviceCodeHash, new Date(t0.getTime() + 4_000));
      expect(early).toMatchObject({ tooSoon: true, request: { intervalSeconds: 10 } });
      const fine = await store.deviceRequests.poll(r.deviceCodeHash, new Date(t0.getTime() + 14_500));
      expect(fine).toMatchObject({ tooSoon: false, request: { intervalSeconds: 10 } });
      expect((await store.deviceRequests.byDeviceCodeHash(r.deviceCodeHash))!.intervalSeconds).toBe(10);
    });

    it("device requests: concurrent decisions and hand-outs, exactly one wins each", async () => {
      const now = new Date();
      const decidedBy = { type: "session", id: newId(), name: user.email };
      const grant = { scopes: ["keys:read"], providers: [], expiresInDays: 7 };
      const r = deviceRequest();
      await store.deviceRequests.create(r);
      const decisions = await atOnce(
        "device requests: concurrent decisions",
        [0, 1, 2].map(
          (i) => () =>
            store.deviceRequests.decide(
              r.id,
              i === 1
                ? { status: "denied", userId: user.id, decidedAt: now, decidedBy }
                : { status: "approved", userId: user.id, decidedAt: now, decidedBy, grant },
              now,
            ),
        ),
      );
      expect(decisions.filter(Boolean)).toHaveLength(1);
      const approved = deviceRequest();
      await store.deviceRequests.create(approved);
      await store.deviceRequests.decide(
        approved.id,
        { status: "approved", userId: user.id, decidedAt: now, decidedBy, grant },
        now,
      );
      const uses = await atOnce(
        "device requests: concurrent hand-outs",
        [0, 1, 2].map(() => () => store.deviceRequests.markUsed(approved.id, newId())),
      );
      expect(uses.filter(Boolean)).toHaveLength(1);
      // A grant scoped to a team keeps its team; a personal one has none.
      expect((await store.deviceRequests.byDeviceCodeHash(approved.deviceCodeHash))?.grant?.teamId).toBeUndefined();
      const forTeam = deviceRequest();
      await store.deviceRequests.create(forTeam);
      const teamId = newId();
      await store.deviceRequests.decide(
        forTeam.id,
        { status: "approved", userId: user.id, decidedAt: now, decidedBy, grant: { ...grant, teamId } },
        now,
      );
      expect((await store.deviceRequests.byDeviceCodeHash(forTeam.deviceCodeHash))?.grant).toEqual({
        ...grant,
        teamId,
      });
    });

    it("device requests: decided once while unexpired; handed out once", async () => {
      const now = new Date();
      const decidedBy = { type: "session", id: newId(), name: user.email };
      const grant = { scopes: ["keys:read"], providers: [], expiresInDays: 7 };
      const r = deviceRequest();
      await store.deviceRequests.create(r);
      expect(await store.deviceRequests.markUsed(r.id, newId())).toBe(false);
      expect(
        await store.deviceRequests.decide(
          r.id,
          { status: "approved", userId: user.id, decidedAt: now, decidedBy, grant },
          now,
        ),
      ).toBe(true);
      expect(
        await store.deviceRequests.decide(r.id, { status: "denied", userId: user.id, decidedAt: now, decidedBy }, now),
      ).toBe(false);
      expect(await store.deviceRequests.byUserCodeHash(r.userCodeHash)).toMatchObject({
        status: "approved",
        userId: user.id,
        decidedBy,
        grant,
      });
      const tokenId = newId();
      expect(await store.deviceRequests.markUsed(r.id, tokenId)).toBe(true);
      expect(await store.deviceRequests.markUsed(r.id, newId())).toBe(false);
      expect(await store.deviceRequests.byUserCodeHash(r.userCodeHash)).toMatchObject({ status: "used", tokenId });

      const expired = deviceRequest({ expiresAt: new Date(now.getTime() - 1) });
      await store.deviceRequests.create(expired);
      expect(
        await store.deviceRequests.decide(
          expired.id,
          { status: "approved", userId: user.id, decidedAt: now, decidedBy, grant },
          now,
        ),
      ).toBe(false);
      const denied = deviceRequest();
      await store.deviceRequests.create(denied);
      expect(
        await store.deviceRequests.decide(
          denied.id,
          { status: "denied", userId: user.id, decidedAt: now, decidedBy },
          now,
        ),
      ).toBe(true);
      expect(await store.deviceRequests.byDeviceCodeHash(denied.deviceCodeHash)).toMatchObject({
        status: "denied",
        grant: undefined,
      });
      expect(await store.deviceRequests.markUsed(denied.id, newId())).toBe(false);
    });
    // ── teams ──
    // Code hashes unique per store (the MongoDB suite shares one database between tests); "f" is never used.
    const codes = new Map<string, string>();
    const codeHash = (c: string): string => {
      if (!codes.has(c)) codes.set(c, newId().padEnd(64, c));
      return codes.get(c)!;
    };
    beforeEach(() => codes.clear());
    const person = async (): Promise<UserRecord> => {
      const u = { id: newId(), email: `${newId()}@example.com`, passwordHash: "$argon2id$x", createdAt: new Date() };
      await store.users.create(u);
      return u;
    };
    const team = async (): Promise<TeamRecord> => {
      const t = { id: newId(), name: `team ${newId()}`, createdAt: new Date() };
      await store.teams.create(t, { teamId: t.id, userId: user.id, role: "owner", createdAt: new Date() });
      return t;
    };
    const teamEvent = (teamId: string, over: Partial<AuditRecord> = {}): AuditRecord => ({
      id: newId(),
      userId: teamId,
      teamId,
      action: "key.retrieved",
      actor: { type: "token", id: newId(), name: "cli", userId: user.id },
      target: { type: "key", id: newId(), name: "shared" },
      time: new Date(),
      address: "127.0.0.1",
      userAgent: "test",
      details: { provider: "openai" },
      ...over,
    });

    it("teams: the creator is the owner; listed with role and member count; membership read back", async () => {
      const t = await team();
      expect(await store.teams.get(t.id)).toMatchObject({ id: t.id, name: t.name });
      const other = await person();
      expect(await store.teams.listForUser(other.id)).toEqual([]);
      const mine = await store.teams.listForUser(user.id);
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatchObject({ team: { id: t.id, name: t.name }, role: "owner", memberCount: 1 });
      expect(await store.teams.membership(t.id, user.id)).toMatchObject({ role: "owner" });
      expect(await store.teams.membership(t.id, other.id)).toBeUndefined();
      expect(await store.teams.get(newId())).toBeUndefined();
    });

    it("teams: a team keeps at least one owner through role changes and removals", async () => {
      const t = await team();
      const b = await person();
      const inv = {
        id: newId(),
        teamId: t.id,
        email: b.email,
        role: "admin" as const,
        codeHash: codeHash("c"),
        invitedBy: user.id,
        invitedByEmail: user.email,
        createdAt: new Date(),
        expiresAt: new Date(Date.now() + DAY),
      };
      await store.teams.createInvitation(inv);
      expect(
        await store.teams.acceptInvitation(
          inv.id,
          { teamId: t.id, userId: b.id, role: "admin", createdAt: new Date() },
          new Date(),
        ),
      ).toBe("ok");
      expect((await store.teams.members(t.id)).map((m) => [m.email, m.role])).toEqual([
        [user.email, "owner"],
        [b.email, "admin"],
      ]);
      expect(await store.teams.setRole(t.id, user.id, "member")).toBe("last_owner");
      expect(await store.teams.removeMember(t.id, user.id)).toBe("last_owner");
      expect(await store.teams.setRole(t.id, b.id, "owner")).toBe("ok");
      expect(await store.teams.setRole(t.id, user.id, "viewer")).toBe("ok");
      expect(await store.teams.removeMember(t.id, b.id)).toBe("last_owner");
      expect(await store.teams.setRole(t.id, newId(), "viewer")).toBe("not_found");
      expect(await store.teams.removeMember(t.id, user.id)).toBe("ok");
      expect(await store.teams.membership(t.id, user.id)).toBeUndefined();
      expect(await store.teams.removeMember(t.id, user.id)).toBe("not_found");
    });

    it("teams: two owners demoting each other at once leave one owner", async () => {
      const t = await team();
      const b = await person();
      const inv = {
        id: newId(),
        teamId: t.id,
        email: b.email,
        role: "owner" as const,
        codeHash: codeHash("c"),
        invitedBy: user.id,
        invitedByEmail: user.email,
        createdAt: new Date(),
        expiresAt: new Date(Date.now() + DAY),
      };
      await store.teams.createInvitation(inv);
      const member = { teamId: t.id, userId: b.id, role: "owner" as const, createdAt: new Date() };
      expect(await store.teams.acceptInvitation(inv.id, member, new Date())).toBe("ok");
      const results = await atOnce("teams: two owners demoting each other at once leave one owner", [
        () => store.teams.setRole(t.id, user.id, "admin"),
        () => store.teams.setRole(t.id, b.id, "admin"),
      ]);
      expect(results.filter((r) => r === "ok")).toHaveLength(1);
      expect((await store.teams.members(t.id)).filter((m) => m.role === "owner")).toHaveLength(1);
    });

    it("teams: an invitation accepted twice at once is used once", async () => {
      const t = await team();
      const b = await person();
      const now = new Date();
      const inv = {
        id: newId(),
        teamId: t.id,
        email: b.email,
        role: "member" as const,
        codeHash: codeHash("4"),
        invitedBy: user.id,
        invitedByEmail: user.email,
        createdAt: now,
        expiresAt: new Date(now.getTime() + DAY),
      };
      await store.teams.createInvitation(inv);
      const member = { teamId: t.id, userId: b.id, role: "member" as const, createdAt: now };
      const twice = await atOnce("teams: an invitation accepted twice at once is used once", [
        () => store.teams.acceptInvitation(inv.id, member, now),
        () => store.teams.acceptInvitation(inv.id, member, now),
      ]);
      expect(twice.sort()).toEqual(["gone", "ok"]);
    });

    it("teams: invitations are found by code hash, used once, expire, and can be revoked", async () => {
      const t = await team();
      const b = await person();
      const now = new Date();
      const base = {
        teamId: t.id,
        email: b.email,
        role: "member" as const,
        invitedBy: user.id,
        invitedByEmail: user.email,
        createdAt: now,
        expiresAt: new Date(now.getTime() + 7 * DAY),
      };
      const used = { ...base, id: newId(), codeHash: codeHash("1") };
      const expired = { ...base, id: newId(), codeHash: codeHash("2"), expiresAt: new Date(now.getTime() - 1) };
      const revoked = { ...base, id: newId(), codeHash: codeHash("3") };
      for (const i of [used, expired, revoked]) await store.teams.createInvitation(i);
      expect(await code(store.teams.createInvitation({ ...used, id: newId() }))).toBe("already_exists");
      expect((await store.teams.pendingInvitations(t.id, now)).map((i) => i.id).sort()).toEqual(
        [used.id, revoked.id].sort(),
      );
      expect(await store.teams.invitationByCodeHash(codeHash("1"))).toMatchObject({
        id: used.id,
        email: b.email,
        role: "member",
      });
      expect(await store.teams.invitationByCodeHash(codeHash("f"))).toBeUndefined();
      const member = { teamId: t.id, userId: b.id, role: "member" as const, createdAt: now };
      expect(await store.teams.acceptInvitation(used.id, member, now)).toBe("ok");
      expect(await store.teams.acceptInvitation(used.id, member, now)).toBe("gone");
      expect(await store.teams.invitationByCodeHash(codeHash("1"))).toMatchObject({ acceptedBy: b.id });
      expect(await store.teams.acceptInvitation(expired.id, member, now)).toBe("gone");
      expect(await store.teams.revokeInvitation(t.id, revoked.id)).toBe(true);
      expect(await store.teams.revokeInvitation(t.id, revoked.id)).toBe(false);
      expect(await store.teams.revokeInvitation(t.id, used.id)).toBe(false);
      expect(await store.teams.pendingInvitations(t.id, now)).toEqual([]);
      expect(await store.teams.membership(t.id, b.id)).toMatchObject({ role: "member" });
    });

    it("teams: team keys live in the team's partition, outlive their creator, and go with the team", async () => {
      const t = await team();
      const teamKey = key({ userId: t.id, teamId: t.id, isDefault: true });
      await store.keys.create(teamKey);
      // The same name in a person's wallet and a team's: different owners.
      await store.keys.create(key({ name: teamKey.name, isDefault: true }));
      expect(await store.keys.byId(teamKey.id)).toMatchObject({ id: teamKey.id, teamId: t.id, userId: t.id });
      expect(await store.keys.forProvider(t.id, "openai")).toMatchObject({ id: teamKey.id });
      expect((await store.keys.list(t.id, {}, 10)).items.map((k) => k.id)).toEqual([teamKey.id]);
      expect((await store.keys.list(user.id, {}, 10)).items.map((k) => k.teamId)).toEqual([undefined]);
      expect((await store.keys.pageCiphertexts("", 100)).find((r) => r.id === teamKey.id)).toMatchObject({
        teamId: t.id,
      });
      const tok = {
        id: newId(),
        userId: user.id,
        name: "team cli",
        hash: "e".repeat(64),
        prefix: "cvw_e",
        scopes: ["keys:read"],
        providers: [],
        createdAt: new Date(),
        expiresAt: new Date(Date.now() + DAY),
        teamId: t.id,
      };
      await store.tokens.create(tok);
      expect((await store.tokens.byHashWithUser(tok.hash))?.token).toMatchObject({ teamId: t.id });
      expect(await store.teams.delete(t.id, new Date())).toBe(true);
      expect(await store.teams.delete(t.id, new Date())).toBe(false);
      expect(await store.teams.get(t.id)).toBeUndefined();
      expect(await store.keys.byId(teamKey.id)).toBeUndefined();
      expect(await store.keys.usage(t.id, teamKey.id, "2000-01-01", "2999-12-31")).toEqual(new Map());
      expect(await store.teams.membership(t.id, user.id)).toBeUndefined();
      expect((await store.audit.listTeam(t.id, {}, 10)).items).toEqual([]);
      expect((await store.tokens.byHash(tok.hash))?.revokedAt).toBeInstanceOf(Date);
      // The person's own key is untouched.
      expect((await store.keys.list(user.id, {}, 10)).items).toHaveLength(1);
    });

    it("teams: a use of a team key counts in the team's partition and its event goes to the team's log", async () => {
      const t = await team();
      const teamKey = key({ userId: t.id, teamId: t.id });
      await store.keys.create(teamKey);
      const target = { type: "key", id: teamKey.id, name: teamKey.name };
      expect(await store.keys.recordUse(t.id, teamKey.id, new Date(), teamEvent(t.id, { target }))).toBe(1);
      expect(await store.keys.recordUse(user.id, teamKey.id, new Date(), teamEvent(t.id))).toBe(0);
      expect((await store.audit.listTeam(t.id, {}, 10)).items).toHaveLength(1);
      expect((await store.audit.list(user.id, undefined, 10)).items).toEqual([]);
      // A team key's fetches are read from the team's log, by the team's id.
      expect((await store.audit.listForTarget(t.id, teamKey.id, ["key.retrieved"], 10)).map((e) => e.teamId)).toEqual([
        t.id,
      ]);
      expect(await store.audit.listForTarget(user.id, teamKey.id, ["key.retrieved"], 10)).toEqual([]);
      const today = new Date().toISOString().slice(0, 10);
      expect(await store.keys.usage(t.id, teamKey.id, today, today)).toEqual(
        new Map([[today, { retrievals: 1, reveals: 0, byToken: {} }]]),
      );
      expect(await store.teams.delete(t.id, new Date())).toBe(true);
      expect(await store.keys.usage(t.id, teamKey.id, today, today)).toEqual(new Map());
    });

    it("teams: deleting an account keeps the team's keys and drops the account's memberships", async () => {
      const t = await team();
      const teamKey = key({ userId: t.id, teamId: t.id });
      await store.keys.create(teamKey);
      const b = await person();
      await store.teams.createInvitation({
        id: newId(),
        teamId: t.id,
        email: b.email,
        role: "owner",
        codeHash: codeHash("9"),
        invitedBy: user.id,
        invitedByEmail: user.email,
        createdAt: new Date(),
        expiresAt: new Date(Date.now() + DAY),
      });
      const inv = await store.teams.invitationByCodeHash(codeHash("9"));
      await store.teams.acceptInvitation(
        inv!.id,
        { teamId: t.id, userId: b.id, role: "owner", createdAt: new Date() },
        new Date(),
      );
      await store.users.delete(user.id);
      expect(await store.keys.byId(teamKey.id)).toMatchObject({ teamId: t.id });
      expect((await store.teams.members(t.id)).map((m) => m.userId)).toEqual([b.id]);
    });

    it("audit: retention prunes a team's old events as it does a person's", async () => {
      const t = await team();
      await store.audit.append(teamEvent(t.id, { time: new Date(Date.now() - 100 * DAY) }));
      const recent = teamEvent(t.id);
      await store.audit.append(recent);
      expect(await store.audit.prune(new Date(Date.now() - 90 * DAY))).toBeGreaterThanOrEqual(1);
      expect((await store.audit.listTeam(t.id, {}, 10)).items.map((e) => e.id)).toEqual([recent.id]);
    });

    it("audit: a team's log is its own, filtered by action and by actor (token or the person behind it)", async () => {
      const t = await team();
      const token = newId();
      const base = Date.now();
      await store.audit.append(
        teamEvent(t.id, { time: new Date(base), actor: { type: "token", id: token, name: "cli", userId: user.id } }),
      );
      await store.audit.append(
        teamEvent(t.id, {
          time: new Date(base + 1),
          action: "team.member.removed",
          actor: { type: "session", id: newId(), name: user.email, userId: user.id },
        }),
      );
      await store.audit.append(
        teamEvent(t.id, {
          time: new Date(base + 2),
          actor: { type: "session", id: newId(), name: "b", userId: newId() },
        }),
      );
      expect((await store.audit.list(user.id, undefined, 10)).items).toEqual([]);
      const all = await store.audit.listTeam(t.id, {}, 2);
      expect(all.items).toHaveLength(2);
      expect(all.items[0]!.time.getTime()).toBe(base + 2);
      expect(all.items[0]!.teamId).toBe(t.id);
      expect((await store.audit.listTeam(t.id, {}, 2, all.next)).items).toHaveLength(1);
      expect((await store.audit.listTeam(t.id, { action: "team.member.removed" }, 10)).items).toHaveLength(1);
      expect((await store.audit.listTeam(t.id, { actorId: user.id }, 10)).items).toHaveLength(2);
      const byToken = await store.audit.listTeam(t.id, { actorId: token }, 10);
      expect(byToken.items.map((e) => e.actor)).toEqual([{ type: "token", id: token, name: "cli", userId: user.id }]);
      expect((await store.audit.listTeam(newId(), {}, 10)).items).toEqual([]);
    });
    // ── reminders and webhooks ──
    it("keys: a notice is claimed once, read back by every read, and released", async () => {
      const k = key({ expiresAt: new Date(Date.now() + DAY), provider: "groq", isDefault: true });
      await store.keys.create(k);
      expect((await store.keys.get(user.id, k.id))?.notices ?? {}).toEqual({});
      const at = new Date(Date.now() - 5_000);
      const later = new Date();
      expect(await store.keys.claimNotice(k.id, "expiring", at)).toBe(true);
      expect(await store.keys.claimNotice(k.id, "expiring", later)).toBe(false);
      expect(await store.keys.claimNotice(k.id, "invalid", later)).toBe(true);
      expect(await store.keys.claimNotice(newId(), "expired", at)).toBe(false);
      const notices = { expiring: at, invalid: later };
      expect((await store.keys.get(user.id, k.id))?.notices).toEqual(notices);
      expect((await store.keys.byId(k.id))?.notices).toEqual(notices);
      expect((await store.keys.forProvider(user.id, "groq"))?.notices).toEqual(notices);
      expect((await store.keys.forProvider(user.id, "groq", k.name))?.notices).toEqual(notices);
      expect((await store.keys.list(user.id, { provider: "groq" }, 10)).items[0]?.notices).toEqual(notices);
      const due = await store.keys.dueForValidation(new Date(Date.now() + DAY), 10_000);
      expect(due.find((d) => d.id === k.id)?.notices).toEqual(notices);
      await store.keys.releaseNotice(k.id, "expiring");
      await store.keys.releaseNotice(k.id, "expiring");
      await store.keys.releaseNotice(k.id, "expired");
      await store.keys.releaseNotice(newId(), "invalid");
      expect((await store.keys.get(user.id, k.id))?.notices).toEqual({ invalid: later });
      // Released means re-armed: the next claim wins again.
      expect(await store.keys.claimNotice(k.id, "expiring", later)).toBe(true);
      expect((await store.keys.get(user.id, k.id))?.notices).toEqual({ expiring: later, invalid: later });
    });

    it("keys: ten concurrent claims of one notice, exactly one wins (and each notice on its own)", async () => {
      const k = key({ expiresAt: new Date(Date.now() - DAY) });
      await store.keys.create(k);
      const at = new Date();
      // Always at once: this is the guarantee several wallet processes rely on.
      const claims = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          store.keys.claimNotice(k.id, i % 2 === 0 ? "expired" : "expiring", new Date(at.getTime() + i)),
        ),
      );
      expect(claims.filter((c, i) => c && i % 2 === 0)).toHaveLength(1);
      expect(claims.filter((c, i) => c && i % 2 === 1)).toHaveLength(1);
      const again = await Promise.all(Array.from({ length: 10 }, () => store.keys.claimNotice(k.id, "invalid", at)));
      expect(again.filter(Boolean)).toHaveLength(1);
      // A few more keys, so a store that only sometimes lets two through is caught too.
      for (let round = 0; round < 3; round++) {
        const other = key({ expiresAt: new Date(Date.now() + DAY) });
        await store.keys.create(other);
        const wins = await Promise.all(
          Array.from({ length: 10 }, () => store.keys.claimNotice(other.id, "expiring", at)),
        );
        expect(wins.filter(Boolean)).toHaveLength(1);
      }
      const notices = (await store.keys.get(user.id, k.id))?.notices;
      expect(Object.keys(notices ?? {}).sort()).toEqual(["expired", "expiring", "invalid"]);
      // The stored time is the winner's.
      expect(notices?.expired?.getTime()).toBe(at.getTime() + claims.findIndex((c, i) => c && i % 2 === 0));
    });

    it("keys: a new expiry re-arms the expiry reminders, a new secret the invalid one, a rename neither", async () => {
      const k = key({ expiresAt: new Date(Date.now() - DAY) });
      await store.keys.create(k);
      const at = new Date();
      const claimAll = async () => {
        for (const n of ["expiring", "expired", "invalid"] as const) await store.keys.claimNotice(k.id, n, at);
      };
      const all = { expiring: at, expired: at, invalid: at };
      await claimAll();
      const renamed = await store.keys.update(user.id, k.id, { name: "renamed", isDefault: true, updatedAt: at });
      expect(renamed?.notices).toEqual(all);
      expect((await store.keys.get(user.id, k.id))?.notices).toEqual(all);
      const moved = await store.keys.update(user.id, k.id, {
        expiresAt: new Date(Date.now() + 30 * DAY),
        updatedAt: at,
      });
      expect(moved?.notices).toEqual({ invalid: at });
      expect((await store.keys.get(user.id, k.id))?.notices).toEqual({ invalid: at });
      await claimAll();
      const cleared = await store.keys.update(user.id, k.id, { expiresAt: null, updatedAt: at });
      expect(cleared?.notices).toEqual({ invalid: at });
      await claimAll();
      const rotated = await store.keys.update(user.id, k.id, {
        ciphertext: "cvw:v1:BBBB",
        last4: "wxyz",
        validation: { status: "unverified", detail: "" },
        updatedAt: at,
      });
      expect(rotated?.notices).toEqual({ expiring: at, expired: at });
      expect((await store.keys.get(user.id, k.id))?.notices).toEqual({ expiring: at, expired: at });
      // A check's result alone (setValidation) leaves the notice to the caller (releaseNotice).
      await store.keys.claimNotice(k.id, "invalid", at);
      await store.keys.setValidation(user.id, k.id, { status: "valid", checkedAt: at, detail: "" });
      expect((await store.keys.get(user.id, k.id))?.notices).toEqual(all);
    });

    it("keys: due for reminder: every owner's and team's keys that owe one, soonest expiry first, limited", async () => {
      // An era of its own: the MongoDB suite shares one database between tests, whose keys expire around now.
      const now = new Date(Date.UTC(1990, 0, 1));
      const windowEnd = new Date(now.getTime() + 14 * DAY);
      const at = (days: number) => new Date(now.getTime() + days * DAY);
      const other = await person();
      const t = await team();
      const make = async (over: Partial<KeyRecord>, claims: ("expiring" | "expired" | "invalid")[] = []) => {
        const k = key(over);
        await store.keys.create(k);
        for (const n of claims) expect(await store.keys.claimNotice(k.id, n, new Date())).toBe(true);
        return k.id;
      };
      const expiredLongAgo = await make({ expiresAt: at(-3) }, ["expiring"]);
      const expired = await make({ expiresAt: at(-2) });
      const theirs = await make({ userId: other.id, expiresAt: at(1) });
      const teams = await make({ userId: t.id, teamId: t.id, expiresAt: at(3) });
      const oddlyOnlyExpired = await make({ expiresAt: at(5) }, ["expired"]);
      const atWindowEnd = await make({ expiresAt: windowEnd });
      await make({ expiresAt: at(-1) }, ["expiring", "expired"]); // both sent
      await make({ expiresAt: at(-1) }, ["expiring", "expired", "invalid"]);
      await make({ expiresAt: at(2) }, ["expiring"]); // reminded, not yet expired
      await make({ expiresAt: new Date(windowEnd.getTime() + 1) }); // not yet in the window
      await make({}); // never expires
      await make({ userId: other.id }, ["invalid"]);
      const due = async (limit: number) => (await store.keys.dueForReminder(now, windowEnd, limit)).map((k) => k.id);
      expect(await due(100)).toEqual([expiredLongAgo, expired, theirs, teams, oddlyOnlyExpired, atWindowEnd]);
      expect(await due(2)).toEqual([expiredLongAgo, expired]);
      const full = await store.keys.dueForReminder(now, windowEnd, 100);
      expect(full[3]).toMatchObject({ id: teams, userId: t.id, teamId: t.id });
      expect(full[0]?.notices?.expiring).toBeInstanceOf(Date);
      // Claiming drops a key from the list; releasing puts it back.
      expect(await store.keys.claimNotice(expiredLongAgo, "expired", new Date())).toBe(true);
      expect(await store.keys.claimNotice(theirs, "expiring", new Date())).toBe(true);
      expect(await due(100)).toEqual([expired, teams, oddlyOnlyExpired, atWindowEnd]);
      await store.keys.releaseNotice(theirs, "expiring");
      expect(await due(100)).toEqual([expired, theirs, teams, oddlyOnlyExpired, atWindowEnd]);
      // An expired key owes both until both are claimed.
      expect(await store.keys.claimNotice(expired, "expired", new Date())).toBe(true);
      expect((await due(1))[0]).toBe(expired);
      expect(await store.keys.claimNotice(expired, "expiring", new Date())).toBe(true);
      expect((await due(1))[0]).toBe(theirs);
      // A later scan (the clock moved on) sees keys that have since expired.
      const later = await store.keys.dueForReminder(at(4), at(18), 100);
      expect(later.map((k) => k.id)).toContain(teams);
      expect(later.map((k) => k.id).indexOf(teams)).toBeLessThan(later.map((k) => k.id).indexOf(atWindowEnd));
    });

    const webhook = (over: Partial<WebhookRecord> = {}): WebhookRecord => {
      const now = new Date();
      return {
        id: newId(),
        userId: user.id,
        ciphertext: "cvw:v1:HOOK",
        keyVersion: 1,
        host: "hooks.slack.com",
        hint: "hooks.slack.com…x1y2",
        createdAt: now,
        updatedAt: now,
        ...over,
      };
    };
    const delivery = (over: Partial<WebhookDeliveryRecord> = {}): WebhookDeliveryRecord => ({
      at: new Date(),
      delivered: true,
      event: "test",
      detail: "HTTP 200 from hooks.slack.com",
      attempts: 1,
      ...over,
    });

    it("webhooks: one per person, replaced whole (last delivery too), deliveries noted only for the current one", async () => {
      expect(await store.webhooks.get(user.id)).toBeUndefined();
      const first = webhook();
      await store.webhooks.put(first);
      expect(await store.webhooks.get(user.id)).toEqual(first);
      const sent = delivery({ event: "expiring", attempts: 3 });
      await store.webhooks.recordDelivery(user.id, first.id, sent);
      expect((await store.webhooks.get(user.id))?.lastDelivery).toEqual(sent);
      const failed = delivery({ delivered: false, detail: "HTTP 500 from hooks.slack.com", event: "expired" });
      await store.webhooks.recordDelivery(user.id, first.id, failed);
      expect((await store.webhooks.get(user.id))?.lastDelivery).toEqual(failed);

      const second = webhook({
        ciphertext: "cvw:v2:HOOK2",
        keyVersion: 2,
        host: "example.com",
        hint: "example.com…abcd",
      });
      await store.webhooks.put(second);
      expect(await store.webhooks.get(user.id)).toEqual(second);
      // A delivery to the replaced webhook that finishes late changes nothing.
      await store.webhooks.recordDelivery(user.id, first.id, delivery());
      expect((await store.webhooks.get(user.id))?.lastDelivery).toBeUndefined();
      await store.webhooks.recordDelivery(user.id, second.id, sent);
      expect((await store.webhooks.get(user.id))?.lastDelivery).toEqual(sent);
      // Put again (even under the same id), it starts without a delivery.
      await store.webhooks.put(second);
      expect((await store.webhooks.get(user.id))?.lastDelivery).toBeUndefined();
      await store.webhooks.recordDelivery(user.id, second.id, sent);

      // Another person's webhook is theirs alone.
      const other = await person();
      const theirs = webhook({ userId: other.id });
      await store.webhooks.put(theirs);
      await store.webhooks.recordDelivery(other.id, second.id, failed);
      expect((await store.webhooks.get(other.id))?.lastDelivery).toBeUndefined();
      expect(await store.webhooks.get(user.id)).toEqual({ ...second, lastDelivery: sent });

      expect(await store.webhooks.delete(user.id)).toBe(true);
      expect(await store.webhooks.get(user.id)).toBeUndefined();
      expect(await store.webhooks.delete(user.id)).toBe(false);
      await store.webhooks.recordDelivery(user.id, second.id, sent);
      expect(await store.webhooks.get(user.id)).toBeUndefined();
      expect(await store.webhooks.get(other.id)).toEqual(theirs);
    });

    it("webhooks: puts at once leave one webhook for the person", async () => {
      const puts = Array.from({ length: 5 }, () => webhook());
      await Promise.all(puts.map((w) => store.webhooks.put(w)));
      const kept = await store.webhooks.get(user.id);
      expect(puts.map((w) => w.id)).toContain(kept?.id);
      expect(kept).toEqual(puts.find((w) => w.id === kept?.id));
      // Had a second one been stored, it would show once the first is gone.
      expect(await store.webhooks.delete(user.id)).toBe(true);
      expect(await store.webhooks.get(user.id)).toBeUndefined();
    });

    it("webhooks: re-wrap pages every person's webhook in user id order, swaps a ciphertext only if unchanged, tells old versions", async () => {
      const other = await person();
      const nobody = await person();
      const mine = webhook({ ciphertext: "cvw:v1:MINE", keyVersion: 1 });
      const theirs = webhook({ userId: other.id, ciphertext: "cvw:v3:THEIRS", keyVersion: 3 });
      await store.webhooks.put(mine);
      await store.webhooks.put(theirs);
      // More people whose webhook ids run against their user ids: the walk is by user id.
      const more = (await Promise.all([person(), person(), person(), person()])).map((p) => p.id).sort();
      const hookIds = more
        .map(() => newId())
        .sort()
        .reverse();
      for (const [i, userId] of more.entries()) await store.webhooks.put(webhook({ id: hookIds[i]!, userId }));
      const sent = delivery();
      await store.webhooks.recordDelivery(user.id, mine.id, sent);

      const seen: { id: string; userId: string; ciphertext: string; keyVersion: number }[] = [];
      let after = "";
      for (let pages = 0; pages < 1000; pages++) {
        const page = await store.webhooks.pageCiphertexts(after, 2);
        if (page.length === 0) break;
        expect(page.length).toBeLessThanOrEqual(2);
        seen.push(...page);
        after = page.at(-1)!.userId;
      }
      expect(await store.webhooks.pageCiphertexts(after, 2)).toEqual([]); // the walk ended
      const order = seen.map((w) => w.userId);
      expect(order).toEqual([...order].sort());
      expect(new Set(order).size).toBe(order.length);
      for (const userId of [...more, user.id, other.id]) expect(order).toContain(userId);
      expect(seen.filter((w) => w.userId === user.id || w.userId === other.id)).toEqual(
        [
          { id: mine.id, userId: user.id, ciphertext: "cvw:v1:MINE", keyVersion: 1 },
          { id: theirs.id, userId: other.id, ciphertext: "cvw:v3:THEIRS", keyVersion: 3 },
        ].sort((a, b) => (a.userId < b.userId ? -1 : 1)),
      );
      expect(seen.some((w) => w.userId === nobody.id)).toBe(false);

      expect(await store.webhooks.countBelowVersion(user.id, 2)).toBe(1);
      expect(await store.webhooks.countBelowVersion(user.id, 1)).toBe(0);
      expect(await store.webhooks.countBelowVersion(other.id, 3)).toBe(0);
      expect(await store.webhooks.countBelowVersion(other.id, 4)).toBe(1);
      expect(await store.webhooks.countBelowVersion(nobody.id, 9)).toBe(0);

      // Only while the stored ciphertext is still the one read; the rest of the webhook stays.
      const before = (await store.webhooks.get(user.id))!;
      expect(
        await store.webhooks.replaceCiphertext(user.id, "cvw:v1:STALE", { ciphertext: "cvw:v2:NO", keyVersion: 2 }),
      ).toBe(false);
      expect(await store.webhooks.get(user.id)).toEqual(before);
      expect(
        await store.webhooks.replaceCiphertext(user.id, "cvw:v1:MINE", { ciphertext: "cvw:v2:MINE2", keyVersion: 2 }),
      ).toBe(true);
      expect(await store.webhooks.get(user.id)).toEqual({
        ...mine,
        ciphertext: "cvw:v2:MINE2",
        keyVersion: 2,
        lastDelivery: sent,
      });
      expect(await store.webhooks.countBelowVersion(user.id, 2)).toBe(0);
      expect(await store.webhooks.get(other.id)).toEqual(theirs);

      // Replaced by its owner meanwhile: the new webhook is left as saved.
      const renewed = webhook({ userId: other.id, ciphertext: "cvw:v4:RENEWED", keyVersion: 4 });
      await store.webhooks.put(renewed);
      expect(
        await store.webhooks.replaceCiphertext(other.id, "cvw:v3:THEIRS", { ciphertext: "cvw:v4:OLD", keyVersion: 4 }),
      ).toBe(false);
      expect(await store.webhooks.get(other.id)).toEqual(renewed);
      // Removed meanwhile: it stays removed.
      expect(await store.webhooks.delete(user.id)).toBe(true);
      expect(
        await store.webhooks.replaceCiphertext(user.id, "cvw:v2:MINE2", { ciphertext: "cvw:v3:GONE", keyVersion: 3 }),
      ).toBe(false);
      expect(await store.webhooks.get(user.id)).toBeUndefined();
      expect(await store.webhooks.countBelowVersion(user.id, 9)).toBe(0);
      expect(
        await store.webhooks.replaceCiphertext(nobody.id, "cvw:v1:MINE", { ciphertext: "cvw:v2:X", keyVersion: 2 }),
      ).toBe(false);
      expect(await store.webhooks.get(nobody.id)).toBeUndefined();
    });

    it("users: deleting a person deletes their webhook, nobody else's", async () => {
      const other = await person();
      await store.webhooks.put(webhook());
      const theirs = webhook({ userId: other.id });
      await store.webhooks.put(theirs);
      await store.users.delete(user.id);
      expect(await store.webhooks.get(user.id)).toBeUndefined();
      expect(await store.webhooks.get(other.id)).toEqual(theirs);
    });
  });
}
