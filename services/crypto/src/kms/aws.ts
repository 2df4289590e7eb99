// AWS KMS as the root of trust (selected by KMS_KEY_ID). Only wrapped DEKs are stored; KMS
// unwraps them on a cache miss. AWS_REGION and AWS_ENDPOINT_URL_KMS (LocalStack, a VPC
// endpoint) are honoured; credentials come from the SDK's default chain.
import {
  DecryptCommand,
  DescribeKeyCommand,
  GenerateDataKeyCommand,
  KMSClient,
  type KMSServiceException,
  ReEncryptCommand,
} from "@aws-sdk/client-kms";
import { AppError } from "@cv-wallet/common/errors";
import type { EncryptionContext, GeneratedDataKey, KekProvider } from "./kek-provider.ts";

export interface AwsKmsOptions {
  keyId: string;
  region?: string | undefined;
  endpoint?: string | undefined;
  /** Per-call budget; a slow KMS must not hold RPCs forever. */
  timeoutMs: number;
}

export class AwsKmsKekProvider implements KekProvider {
  readonly kind = "aws-kms" as const;
  readonly #client: KMSClient;
  readonly #configuredKeyId: string;
  readonly #timeoutMs: number;
  #keyArn = "";

  constructor(options: AwsKmsOptions) {
    this.#configuredKeyId = options.keyId;
    this.#timeoutMs = options.timeoutMs;
    this.#client = new KMSClient({
      ...(options.region ? { region: options.region } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      maxAttempts: 2,
    });
  }

  currentKeyId(): string {
    return this.#keyArn || this.#configuredKeyId;
  }

  async check(): Promise<void> {
    try {
      const out = await this.#send((o) =>
        this.#client.send(new DescribeKeyCommand({ KeyId: this.#configuredKeyId }), o),
      );
      const meta = out.KeyMetadata;
      if (!meta?.Arn) throw new Error("DescribeKey returned no key metadata");
      if (meta.KeyState !== "Enabled") throw new Error(`key state is ${meta.KeyState}`);
      if (meta.KeySpec && meta.KeySpec !== "SYMMETRIC_DEFAULT") throw new Error(`key spec is ${meta.KeySpec}`);
      this.#keyArn = meta.Arn;
    } catch (error) {
      const cause = error instanceof AppError && error.cause instanceof Error ? `: ${error.cause.message}` : "";
      const reason = `${error instanceof Error ? error.message : String(error)}${cause}`;
      throw new Error(`KMS_KEY_ID: cannot use KMS key ${this.#configuredKeyId}: ${reason}`);
    }
  }

  async generateDataKey(context: EncryptionContext): Promise<GeneratedDataKey> {
    const out = await this.#send((o) =>
      this.#client.send(
        new GenerateDataKeyCommand({
          KeyId: this.currentKeyId(),
          KeySpec: "AES_256",
          EncryptionContext: { ...context },
        }),
        o,
      ),
    );
    if (!out.Plaintext || !out.CiphertextBlob || !out.KeyId)
      throw new AppError("unavailable", "KMS returned no data key");
    return { plaintext: out.Plaintext, wrapped: out.CiphertextBlob, keyId: out.KeyId };
  }

  async decrypt(wrapped: Uint8Array, context: EncryptionContext, keyId: string): Promise<Uint8Array> {
    const out = await this.#send((o) =>
      this.#client.send(
        new DecryptCommand({ CiphertextBlob: wrapped, KeyId: keyId, EncryptionContext: { ...context } }),
        o,
      ),
    );
    if (!out.Plaintext) throw new AppError("unavailable", "KMS returned no plaintext");
    return out.Plaintext;
  }

  async rewrap(wrapped: Uint8Array, context: EncryptionContext, keyId: string) {
    // ReEncrypt runs inside KMS: the DEK is never in this process.
    const out = await this.#send((o) =>
      this.#client.send(
        new ReEncryptCommand({
          CiphertextBlob: wrapped,
          SourceKeyId: keyId,
          SourceEncryptionContext: { ...context },
          DestinationKeyId: this.currentKeyId(),
          DestinationEncryptionContext: { ...context },
        }),
        o,
      ),
    );
    if (!out.CiphertextBlob || !out.KeyId) throw new AppError("unavailable", "KMS returned no ciphertext");
    return { wrapped: out.CiphertextBlob, keyId: out.KeyId };
  }

  close(): void {
    this.#client.destroy();
  }

  async #send<T>(call: (options: { abortSignal: AbortSignal }) => Promise<T>): Promise<T> {
    try {
      return await call({ abortSignal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (error) {
      throw kmsError(error);
    }
  }
}

/** KMS failures as AppErrors whose message names the KMS error type, never a key or DEK. */
function kmsError(error: unknown): AppError {
  const name = (error as KMSServiceException)?.name ?? "Error";
  switch (name) {
    case "DisabledException":
    case "KMSInvalidStateException":
      return new AppError("failed_precondition", `KMS key is not usable (${name})`, { cause: error });
    case "NotFoundException":
    case "InvalidCiphertextException":
    case "IncorrectKeyException":
    case "AccessDeniedException":
    case "InvalidKeyUsageException":
      return new AppError("failed_precondition", `KMS refused the data key (${name})`, { cause: error });
    default:
      return new AppError("unavailable", `KMS is unavailable (${name})`, { cause: error });
  }
}
