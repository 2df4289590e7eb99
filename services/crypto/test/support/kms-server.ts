// A KMS-protocol endpoint on loopback for tests: AWS JSON 1.1 over HTTP, `TrentService.*`
// targets, real AES-256-GCM, and KMS's own error types. It lets the real @aws-sdk/client-kms
// (serialization, retries, error parsing) run against something that behaves like KMS where
// neither AWS nor LocalStack is reachable. It is test support, not part of the product.
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

const REGION = "us-east-1";
const ACCOUNT = "000000000000";

interface Key {
  id: string;
  arn: string;
  material: Buffer;
  enabled: boolean;
}

class KmsError extends Error {
  readonly type: string;
  constructor(type: string, message: string) {
    super(message);
    this.type = type;
  }
}

export interface KmsTestServer {
  /** http://127.0.0.1:<port>, for AWS_ENDPOINT_URL_KMS. */
  endpoint: string;
  region: string;
  /** Creates a symmetric key (with the given id, to restart a "KMS" with its keys); returns its id. */
  createKey(id?: string): string;
  /** Material of every key, to start another server with the same keys after a stop. */
  exportKeys(): Map<string, Buffer>;
  importKeys(keys: Map<string, Buffer>): void;
  /** Milliseconds each answer is held back (a slow KMS). */
  delayMs: number;
  arnOf(keyId: string): string;
  setEnabled(keyId: string, enabled: boolean): void;
  /** Calls received, by operation name ("GenerateDataKey", "Decrypt", ...). */
  calls: Map<string, number>;
  stop(): Promise<void>;
}

export async function startKmsTestServer(port = 0): Promise<KmsTestServer> {
  const keys = new Map<string, Key>();
  const calls = new Map<string, number>();
  let delay = 0;
  const find = (keyId: string | undefined): Key => {
    if (!keyId) throw new KmsError("ValidationException", "KeyId is required");
    const id = keyId.startsWith("arn:") ? keyId.slice(keyId.lastIndexOf("/") + 1) : keyId;
    const key = keys.get(id);
    if (!key) throw new KmsError("NotFoundException", `Key '${keyId}' does not exist`);
    return key;
  };
  const usable = (key: Key): Key => {
    if (!key.enabled) throw new KmsError("DisabledException", `${key.arn} is disabled.`);
    return key;
  };

  const seal = (key: Key, plaintext: Buffer, context: unknown): Buffer => {
    const nonce = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key.material, nonce);
    cipher.setAAD(contextBytes(context));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const id = Buffer.from(key.id, "utf8");
    return Buffer.concat([Buffer.from([id.length]), id, nonce, body, cipher.getAuthTag()]);
  };
  const unseal = (blob: Buffer, context: unknown, expectedKeyId?: string): { key: Key; plaintext: Buffer } => {
    if (blob.length < 1 + 36 + 12 + 16) throw new KmsError("InvalidCiphertextException", "");
    const id = blob.subarray(1, 1 + blob[0]!).toString("utf8");
    const key = keys.get(id);
    if (!key) throw new KmsError("InvalidCiphertextException", "");
    if (expectedKeyId && find(expectedKeyId).id !== key.id) throw new KmsError("IncorrectKeyException", "");
    usable(key);
    const rest = blob.subarray(1 + blob[0]!);
    const decipher = createDecipheriv("aes-256-gcm", key.material, rest.subarray(0, 12));
    decipher.setAAD(contextBytes(context));
    decipher.setAuthTag(rest.subarray(rest.length - 16));
    try {
      return {
        key,
        plaintext: Buffer.concat([decipher.update(rest.subarray(12, rest.length - 16)), decipher.final()]),
      };
    } catch {
      throw new KmsError("InvalidCiphertextException", "");
    }
  };

  const createKey = (id: string = randomUUID()): Key => {
    const key: Key = {
      id,
      arn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`,
      material: randomBytes(32),
      enabled: true,
    };
    keys.set(id, key);
    return key;
  };
  const metadata = (key: Key) => ({
    AWSAccountId: ACCOUNT,
    KeyId: key.id,
    Arn: key.arn,
    Enabled: key.enabled,
    KeyState: key.enabled ? "Enabled" : "Disabled",
    KeySpec: "SYMMETRIC_DEFAULT",
    KeyUsage: "ENCRYPT_DECRYPT",
    CreationDate: Date.now() / 1000,
  });

  const operations: Record<string, (input: Record<string, unknown>) => unknown> = {
    CreateKey: () => ({ KeyMetadata: metadata(createKey()) }),
    DisableKey: (input) => {
      find(input.KeyId as string).enabled = false;
      return {};
    },
    EnableKey: (input) => {
      find(input.KeyId as string).enabled = true;
      return {};
    },
    DescribeKey: (input) => {
      const key = find(input.KeyId as string);
      return { KeyMetadata: metadata(key) };
    },
    GenerateDataKey: (input) => {
      const key = usable(find(input.KeyId as string));
      const bytes = input.KeySpec === "AES_256" ? 32 : input.KeySpec === "AES_128" ? 16 : Number(input.NumberOfBytes);
      if (!(bytes >= 1 && bytes <= 1024))
        throw new KmsError("ValidationException", "KeySpec or NumberOfBytes required");
      const plaintext = randomBytes(bytes);
      return {
        KeyId: key.arn,
        Plaintext: plaintext.toString("base64"),
        CiphertextBlob: seal(key, plaintext, input.EncryptionContext).toString("base64"),
      };
    },
    Decrypt: (input) => {
      const blob = Buffer.from(String(input.CiphertextBlob ?? ""), "base64");
      const { key, plaintext } = unseal(blob, input.EncryptionContext, input.KeyId as string | undefined);
      return { KeyId: key.arn, Plaintext: plaintext.toString("base64"), EncryptionAlgorithm: "SYMMETRIC_DEFAULT" };
    },
    ReEncrypt: (input) => {
      const blob = Buffer.from(String(input.CiphertextBlob ?? ""), "base64");
      const source = unseal(blob, input.SourceEncryptionContext, input.SourceKeyId as string | undefined);
      const destination = usable(find(input.DestinationKeyId as string));
      const out = seal(destination, source.plaintext, input.DestinationEncryptionContext);
      source.plaintext.fill(0);
      return { CiphertextBlob: out.toString("base64"), KeyId: destination.arn, SourceKeyId: source.key.arn };
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers["x-amz-target"] ?? "");
    const operation = target.startsWith("TrentService.") ? target.slice("TrentService.".length) : "";
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": randomUUID() });
      res.end(JSON.stringify(body));
    };
    calls.set(operation, (calls.get(operation) ?? 0) + 1);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    try {
      const op = operations[operation];
      if (req.method !== "POST" || !op) throw new KmsError("UnknownOperationException", `unknown target ${target}`);
      reply(200, op(JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>));
    } catch (error) {
      if (error instanceof KmsError) reply(400, { __type: error.type, message: error.message });
      else reply(500, { __type: "KMSInternalException", message: "internal error" });
    }
  };

  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const { port: bound } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${bound}`,
    region: REGION,
    calls,
    createKey: (id) => createKey(id).id,
    exportKeys: () => new Map([...keys].map(([id, k]) => [id, Buffer.from(k.material)])),
    importKeys(imported) {
      for (const [id, material] of imported) createKey(id).material = Buffer.from(material);
    },
    get delayMs() {
      return delay;
    },
    set delayMs(ms: number) {
      delay = ms;
    },
    arnOf: (keyId) => find(keyId).arn,
    setEnabled(keyId, enabled) {
      find(keyId).enabled = enabled;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** KMS binds the context as a set of pairs: order does not matter. */
function contextBytes(context: unknown): Buffer {
  const entries = Object.entries((context ?? {}) as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : 1));
  return Buffer.from(JSON.stringify(entries), "utf8");
}
