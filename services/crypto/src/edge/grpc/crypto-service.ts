// The CryptoService implementation: translates messages to keyring calls and back. Rules
// live in the keyring; request shape is checked by protovalidate before a handler runs.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AppError } from "@cv-wallet/common/errors";
import { grpcStatusOf, type UnaryServiceImpl } from "@cv-wallet/common/grpc";
import { type CryptoService, type KeyInfo, KeyInfoSchema } from "@cv-wallet/proto/crypto/v1";
import type { Keyring } from "../../keyring/keyring.ts";
import type { TenantKeyWithVersions } from "../../store/port.ts";

const DEFAULT_PAGE_SIZE = 100;

export function cryptoServiceImpl(keyring: Keyring): UnaryServiceImpl<typeof CryptoService> {
  return {
    async encrypt(req) {
      const sealed = await keyring.encrypt(req.keyName, req.plaintext, req.context);
      return { ciphertext: sealed.ciphertext, keyVersion: sealed.version };
    },
    async decrypt(req) {
      const opened = await keyring.decrypt(req.keyName, req.ciphertext, req.context);
      return { plaintext: opened.plaintext, keyVersion: opened.version };
    },
    async encryptBatch(req) {
      const results = await Promise.all(
        req.items.map((item) =>
          keyring.encrypt(item.keyName, item.plaintext, item.context).then(
            (sealed) => ({
              result: { case: "ok" as const, value: { ciphertext: sealed.ciphertext, keyVersion: sealed.version } },
            }),
            (error: unknown) => ({ result: { case: "error" as const, value: itemError(error) } }),
          ),
        ),
      );
      return { results };
    },
    async decryptBatch(req) {
      const results = await Promise.all(
        req.items.map((item) =>
          keyring.decrypt(item.keyName, item.ciphertext, item.context).then(
            (opened) => ({
              result: { case: "ok" as const, value: { plaintext: opened.plaintext, keyVersion: opened.version } },
            }),
            (error: unknown) => ({ result: { case: "error" as const, value: itemError(error) } }),
          ),
        ),
      );
      return { results };
    },
    async rewrap(req) {
      const out = await keyring.rewrap(req.keyName, req.ciphertext, req.context);
      return { ciphertext: out.ciphertext, keyVersion: out.version, changed: out.changed };
    },
    async rotateKey(req) {
      return { key: toKeyInfo(await keyring.rotate(req.keyName)) };
    },
    async getKeyInfo(req) {
      return { key: toKeyInfo(await keyring.info(req.keyName)) };
    },
    async listKeys(req) {
      const page = await keyring.list(req.pageToken, req.pageSize || DEFAULT_PAGE_SIZE);
      return { keys: page.keys.map(toKeyInfo), nextPageToken: page.nextPageToken };
    },
    async setMinDecryptionVersion(req) {
      return { key: toKeyInfo(await keyring.setMinDecryptionVersion(req.keyName, req.minDecryptionVersion)) };
    },
    async destroyKey(req) {
      return { versionsDestroyed: await keyring.destroy(req.keyName) };
    },
    async rewrapDataKeys(req) {
      return keyring.rewrapDataKeys(req.pageToken, req.pageSize || DEFAULT_PAGE_SIZE);
    },
  };
}

/** Metadata only, by construction: there is no field here a DEK could go into. */
function toKeyInfo(key: TenantKeyWithVersions): KeyInfo {
  return create(KeyInfoSchema, {
    name: key.name,
    latestVersion: key.versions.at(-1)?.version ?? 0,
    minDecryptionVersion: key.minDecryptionVersion,
    createdAt: timestampFromDate(key.createdAt),
    versions: key.versions.map((v) => ({
      version: v.version,
      createdAt: timestampFromDate(v.createdAt),
      encryptionCount: BigInt(v.encryptionCount),
      wrappingKeyId: v.wrappingKeyId,
    })),
  });
}

/** A batch item's failure; unexpected errors are rethrown so the whole call is INTERNAL (and logged). */
function itemError(error: unknown): { code: number; message: string } {
  if (error instanceof AppError) return { code: grpcStatusOf(error.code), message: error.message };
  throw error;
}
