// The key-encryption key, behind one interface: a local master key file or AWS KMS. A
// provider wraps and unwraps 256-bit DEKs; the encryption context (key name + version) is
// bound to every wrap, so a wrapped DEK cannot be swapped onto another key or version.

/** What a wrapped DEK is bound to. Values are strings, as in KMS. */
export type EncryptionContext = Readonly<Record<string, string>>;

export interface GeneratedDataKey {
  /** 32 bytes; the caller zeroes it when done. */
  plaintext: Uint8Array;
  wrapped: Uint8Array;
  /** The wrapping key's id (local fingerprint or KMS key ARN). */
  keyId: string;
}

export interface KekProvider {
  readonly kind: "local" | "aws-kms";
  /** The id of the key new DEKs are wrapped with (resolved by `check`). */
  currentKeyId(): string;
  /** Verifies the key is usable; throws an Error naming the variable to fix. */
  check(): Promise<void>;
  generateDataKey(context: EncryptionContext): Promise<GeneratedDataKey>;
  /** Unwraps; throws AppError unavailable (KMS down) or failed_precondition (key disabled). */
  decrypt(wrapped: Uint8Array, context: EncryptionContext, keyId: string): Promise<Uint8Array>;
  /** Re-wraps under the current key without exposing the DEK to the caller. */
  rewrap(
    wrapped: Uint8Array,
    context: EncryptionContext,
    keyId: string,
  ): Promise<{ wrapped: Uint8Array; keyId: string }>;
  close?(): void;
}

export function dekContext(keyName: string, version: number): EncryptionContext {
  return { "cvw:key": keyName, "cvw:version": String(version) };
}
