// The aws-kms key provider through the real @aws-sdk/client-kms: against moto (the AWS
// emulator `scripts/test-servers.sh up` starts; any AWS_ENDPOINT_URL_KMS), against a
// KMS-protocol endpoint on loopback always, and against LocalStack (testcontainers) when a
// container engine answers. The suite administers keys through the SDK too, so it runs unchanged on both.
import { CreateKeyCommand, DisableKeyCommand, EnableKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { AppError } from "@cv-wallet/common/errors";
import { containerEngine } from "@cv-wallet/common/testing/mongo";
import { kmsForTests, reportDifference } from "@cv-wallet/common/testing/servers";
import { reportSkip } from "@cv-wallet/common/testing/skips";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AwsKmsKekProvider } from "../src/kms/aws.ts";
import { dekContext } from "../src/kms/kek-provider.ts";
import { startKmsTestServer } from "./support/kms-server.ts";

interface KmsEndpoint {
  endpoint: string;
  region: string;
  stop(): Promise<void>;
}

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";

/** What an emulator is known to do differently from AWS KMS (named in the output when it shows). */
interface KnownDifferences {
  disabledKeyDecrypts?: string;
}

function providerSuite(name: string, start: () => Promise<KmsEndpoint | undefined>, known: KnownDifferences = {}) {
  describe(name, () => {
    let kms: KmsEndpoint | undefined;
    let admin: KMSClient;
    const newKey = async () => (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const provider = (keyId: string) =>
      new AwsKmsKekProvider({ keyId, region: kms!.region, endpoint: kms!.endpoint, timeoutMs: 5_000 });

    beforeAll(async () => {
      kms = await start();
      if (kms) admin = new KMSClient({ region: kms.region, endpoint: kms.endpoint });
    });
    afterAll(async () => {
      admin?.destroy();
      await kms?.stop();
    });

    it("checks the key with DescribeKey and names KMS_KEY_ID when it is missing", async ({ skip }) => {
      if (!kms) return skip();
      const keyId = await newKey();
      const good = provider(keyId);
      await good.check();
      expect(good.currentKeyId()).toMatch(/^arn:aws:kms:/);
      await expect(provider("4f1c7c4e-0000-4000-8000-000000000000").check()).rejects.toThrow(
        /^KMS_KEY_ID: .*NotFoundException/,
      );
    });

    it("generates, unwraps and re-wraps a DEK bound to its encryption context", async ({ skip }) => {
      if (!kms) return skip();
      const a = provider(await newKey());
      await a.check();
      const context = dekContext("user/kms", 1);
      const dek = await a.generateDataKey(context);
      expect(dek.plaintext).toHaveLength(32);
      expect(Buffer.from(dek.wrapped).includes(Buffer.from(dek.plaintext))).toBe(false);
      expect(Buffer.from(await a.decrypt(dek.wrapped, context, dek.keyId))).toEqual(Buffer.from(dek.plaintext));

      const wrongContext = await a.decrypt(dek.wrapped, dekContext("user/kms", 2), dek.keyId).catch((e: unknown) => e);
      expect(wrongContext).toBeInstanceOf(AppError);
      expect((wrongContext as AppError).message).toMatch(/InvalidCiphertextException/);

      // KMS_KEY_ID changed: a provider on key B re-wraps what key A wrapped, inside KMS.
      const b = provider(await newKey());
      await b.check();
      const moved = await b.rewrap(dek.wrapped, context, dek.keyId);
      expect(moved.keyId).toBe(b.currentKeyId());
      expect(Buffer.from(await b.decrypt(moved.wrapped, context, moved.keyId))).toEqual(Buffer.from(dek.plaintext));
    });

    it("maps a disabled key to FAILED_PRECONDITION (DisabledException)", async ({ skip }) => {
      if (!kms) return skip();
      const keyId = await newKey();
      const p = provider(keyId);
      await p.check();
      const dek = await p.generateDataKey(dekContext("user/disabled", 1));
      await admin.send(new DisableKeyCommand({ KeyId: keyId }));
      const error = (await p
        .decrypt(dek.wrapped, dekContext("user/disabled", 1), dek.keyId)
        .catch((e: unknown) => e)) as AppError;
      if (known.disabledKeyDecrypts && !(error instanceof AppError)) {
        reportDifference(name, known.disabledKeyDecrypts);
      } else {
        expect(error.code).toBe("failed_precondition");
        expect(error.message).toMatch(/DisabledException/);
      }
      await expect(provider(keyId).check()).rejects.toThrow(/KMS_KEY_ID: .*Disabled/);
      await admin.send(new EnableKeyCommand({ KeyId: keyId }));
    });
  });
}

providerSuite(
  "aws-kms provider against moto (AWS_ENDPOINT_URL_KMS)",
  async () => {
    const kms = kmsForTests("crypto aws-kms provider against moto");
    return kms && { endpoint: kms.endpoint, region: kms.region, stop: async () => {} };
  },
  {
    disabledKeyDecrypts:
      "moto: Decrypt with a disabled key succeeds (AWS KMS answers DisabledException); that mapping is checked against the loopback KMS endpoint",
  },
);

providerSuite("aws-kms provider against the loopback KMS-protocol endpoint", async () => {
  const server = await startKmsTestServer();
  return { endpoint: server.endpoint, region: server.region, stop: server.stop };
});

providerSuite("aws-kms provider against LocalStack", async () => {
  const engine = await containerEngine();
  if (engine !== true) {
    reportSkip("crypto aws-kms against LocalStack", `no container engine (${engine})`);
    return undefined;
  }
  const { LocalstackContainer } = await import("@testcontainers/localstack");
  const container = await new LocalstackContainer("localstack/localstack:4").start();
  return {
    endpoint: container.getConnectionUri(),
    region: "us-east-1",
    stop: async () => void (await container.stop()),
  };
});

describe("aws-kms provider when KMS does not answer", () => {
  it("reports UNAVAILABLE, not INTERNAL", async () => {
    const server = await startKmsTestServer();
    const keyId = server.createKey();
    const p = new AwsKmsKekProvider({ keyId, region: server.region, endpoint: server.endpoint, timeoutMs: 2000 });
    await p.check();
    const dek = await p.generateDataKey(dekContext("user/down", 1));
    await server.stop();
    const error = (await p
      .decrypt(dek.wrapped, dekContext("user/down", 1), dek.keyId)
      .catch((e: unknown) => e)) as AppError;
    expect(error).toBeInstanceOf(AppError);
    expect(error.code).toBe("unavailable");
  });
});
