// What the domain needs from the crypto service. clients/crypto.ts implements it over gRPC;
// tests may pass any object with this shape. Failures are AppErrors whose messages hold no secret.
export interface SealedSecret {
  ciphertext: string;
  keyVersion: number;
}

export interface CryptoPort {
  /** Encrypts under the tenant key of `userId`, bound to the record id and field (domain/key-names.ts). */
  encrypt(userId: string, recordId: string, field: string, plaintext: string): Promise<SealedSecret>;
  decrypt(userId: string, recordId: string, field: string, ciphertext: string): Promise<string>;
  /** As encrypt, under a named key (domain/key-names.ts keyNameOf: a tenant's or a team's). */
  encryptUnder(keyName: string, recordId: string, field: string, plaintext: string): Promise<SealedSecret>;
  decryptUnder(keyName: string, recordId: string, field: string, ciphertext: string): Promise<string>;
  /** Destroys a named key (a team's): every ciphertext under it becomes unrecoverable; 0 if none. */
  destroyKey(keyName: string): Promise<number>;
  /** Crypto-shreds a tenant: every ciphertext under its key becomes unrecoverable. */
  destroyTenant(userId: string): Promise<number>;
  /** Throws unless the crypto service reports SERVING on its grpc.health.v1 (a call that does not fail when all is well). */
  ping(): Promise<void>;
  close(): void;
}
