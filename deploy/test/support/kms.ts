// The KMS a deploy suite runs the crypto service against: moto (or whatever AWS KMS
// AWS_ENDPOINT_URL_KMS points at) whenever `scripts/test-servers.sh up` provided one, else the
// project's loopback KMS-protocol fake. Keys are administered through the real
// @aws-sdk/client-kms either way, so a suite reads the same on both; the console says which.
import { CreateKeyCommand, DisableKeyCommand, EnableKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { reportDifference, reportServer } from "@cv-wallet/common/testing/servers";
import { startKmsTestServer } from "../../../services/crypto/test/support/kms-server.ts";

export interface TestKms {
  endpoint: string;
  region: string;
  /** Which KMS, for the test log. */
  source: string;
  createKey(): Promise<string>;
  setEnabled(keyId: string, enabled: boolean): Promise<void>;
  /** The crypto service's environment for a key of this KMS. */
  env(keyId: string): Record<string, string>;
  stop(): Promise<void>;
}

const credentials = { accessKeyId: "test", secretAccessKey: "test" };

export async function kmsForSuite(suite: string): Promise<TestKms> {
  const endpoint = process.env.AWS_ENDPOINT_URL_KMS;
  let stop = async () => {};
  let region = process.env.AWS_REGION ?? "us-east-1";
  let source: string;
  let target: string;
  if (endpoint) {
    target = endpoint;
    source = process.env.CVW_TEST_KMS ?? `AWS_ENDPOINT_URL_KMS=${endpoint}`;
  } else {
    const fake = await startKmsTestServer();
    target = fake.endpoint;
    region = fake.region;
    stop = fake.stop;
    source = `the loopback KMS-protocol fake at ${fake.endpoint} (no AWS_ENDPOINT_URL_KMS: scripts/test-servers.sh up starts moto)`;
  }
  reportServer(suite, `AWS KMS: ${source}`);
  const admin = new KMSClient({ region, endpoint: target, credentials });
  return {
    endpoint: target,
    region,
    source,
    createKey: async () => (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!,
    async setEnabled(keyId, enabled) {
      await admin.send(enabled ? new EnableKeyCommand({ KeyId: keyId }) : new DisableKeyCommand({ KeyId: keyId }));
      if (!enabled && endpoint && /moto/i.test(source)) {
        reportDifference(
          suite,
          "moto: a disabled key still decrypts (AWS KMS refuses), so what runs after disabling it does not prove the key is no longer needed; the loopback KMS endpoint and AWS do",
        );
      }
    },
    env: (keyId) => ({
      KMS_KEY_ID: keyId,
      AWS_REGION: region,
      AWS_ENDPOINT_URL_KMS: target,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    }),
    async stop() {
      admin.destroy();
      await stop();
    },
  };
}
