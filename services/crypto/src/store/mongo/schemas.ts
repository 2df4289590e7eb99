// The keyring's MongoDB documents. The unique (name, version) index is what makes a racing
// RotateKey or first encrypt on two instances produce one version, not two.
import { Schema } from "mongoose";

export interface TenantKeyDoc {
  _id: string;
  minDecryptionVersion: number;
  createdAt: Date;
}

export interface TenantKeyVersionDoc {
  name: string;
  version: number;
  dekId: string;
  wrappedDek: Buffer;
  wrappingKeyId: string;
  createdAt: Date;
  encryptionCount: number;
}

export const tenantKeySchema = new Schema<TenantKeyDoc>(
  {
    _id: { type: String, required: true, maxlength: 128 },
    minDecryptionVersion: { type: Number, required: true, min: 1, default: 1, validate: Number.isInteger },
    createdAt: { type: Date, required: true },
  },
  { collection: "crypto_keys", versionKey: false, strict: "throw" },
);

export const tenantKeyVersionSchema = new Schema<TenantKeyVersionDoc>(
  {
    name: { type: String, required: true, maxlength: 128 },
    version: { type: Number, required: true, min: 1, max: 0xffff_ffff, validate: Number.isInteger },
    dekId: { type: String, required: true },
    wrappedDek: { type: Buffer, required: true },
    wrappingKeyId: { type: String, required: true },
    createdAt: { type: Date, required: true },
    encryptionCount: { type: Number, required: true, min: 0, default: 0 },
  },
  { collection: "crypto_key_versions", versionKey: false, strict: "throw" },
);
tenantKeyVersionSchema.index({ name: 1, version: 1 }, { unique: true });

/** A destroyed key's name: a tombstone, so a late or racing encrypt never re-creates the key. */
export interface DestroyedKeyDoc {
  _id: string;
  destroyedAt: Date;
}

export const destroyedKeySchema = new Schema<DestroyedKeyDoc>(
  {
    _id: { type: String, required: true, maxlength: 128 },
    destroyedAt: { type: Date, required: true },
  },
  { collection: "crypto_destroyed_keys", versionKey: false, strict: "throw" },
);

/** The one document the readiness probe writes, to learn whether the store accepts writes. */
export interface HealthDoc {
  _id: string;
  checkedAt: Date;
}

export const healthSchema = new Schema<HealthDoc>(
  {
    _id: { type: String, required: true },
    checkedAt: { type: Date, required: true },
  },
  { collection: "crypto_health", versionKey: false, strict: "throw" },
);
