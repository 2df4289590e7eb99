// mTLS between wallet and crypto, as the production overlay wires it: certificates made with
// openssl exactly as deploy/k8s/cert-manager's Certificates describe them (names, usages, one
// CA), laid out as the Secrets' files under the overlay's mount paths, and both services
// started with the overlay's own environment (ConfigMaps), the wallet dialing the very address
// the overlay gives it. Then: the pod's TLS health probe passes, a key is stored and fetched
// through the wallet, and crypto refuses callers without a client certificate.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { reportSkip } from "@cv-wallet/common/testing/skips";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { checkGrpcHealth } from "../probes/grpc-health.ts";
import { hostsPreload } from "./support/hosts.ts";
import { type K8sObject, kubectl, render } from "./support/k8s.ts";
import { at, repoRoot, which } from "./support/paths.ts";
import { freePort, type Service, serviceToken, startCrypto, startWallet } from "./support/processes.ts";
import { userWithToken, WalletHttp } from "./support/wallet-http.ts";

const openssl = which("openssl");
const SUITE = "deploy mTLS wallet → crypto (prod overlay)";
if (!kubectl || !openssl) {
  reportSkip(SUITE, `${kubectl ? "openssl" : "kubectl (kustomize)"} is not on PATH`);
}

const find = (objects: K8sObject[], kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name.startsWith(name));
  if (!o) throw new Error(`${kind}/${name} missing`);
  return o;
};

interface SecretMount {
  mountPath: string;
  secretName: string;
  files: string[];
}

/** The Secret volumes a Deployment's one container mounts. */
function secretMounts(deployment: K8sObject): SecretMount[] {
  const pod = deployment.spec.template.spec;
  return pod.containers[0].volumeMounts.flatMap((m: { name: string; mountPath: string }) => {
    const v = pod.volumes.find((x: { name: string }) => x.name === m.name);
    if (!v?.secret) return [];
    return [
      {
        mountPath: m.mountPath,
        secretName: v.secret.secretName,
        files: (v.secret.items ?? []).map((i: { path: string }) => i.path),
      },
    ];
  });
}

/** openssl's extension names for cert-manager's usages. */
const EXTENDED_USAGE: Record<string, string> = { "server auth": "serverAuth", "client auth": "clientAuth" };
const KEY_USAGE: Record<string, string> = {
  "digital signature": "digitalSignature",
  "key encipherment": "keyEncipherment",
};

describe.runIf(Boolean(kubectl && openssl))("mTLS wallet → crypto as the prod overlay wires it", () => {
  const dir = mkdtempSync(join(tmpdir(), "cvw-tls-"));
  const token = serviceToken();
  const services: Service[] = [];
  let prod: K8sObject[] = [];
  let certs: K8sObject[] = [];
  /** Secret name → the local directory standing in for its volume. */
  const secretDir = (name: string) => join(dir, "secrets", name);
  let cryptoMounts: SecretMount[] = [];
  let walletMounts: SecretMount[] = [];
  /** A path inside a mounted Secret → the same file here. */
  const local = (mounts: SecretMount[], path: string) => {
    const m = mounts.find((x) => path.startsWith(`${x.mountPath}/`));
    return m ? join(secretDir(m.secretName), path.slice(m.mountPath.length + 1)) : path;
  };
  const ssl = (...args: string[]) => execFileSync(openssl!, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });

  /** Issues every Certificate of the cert-manager kustomization with openssl, into its Secret's files. */
  function issueCertificates(): void {
    const certificates = certs.filter((o) => o.kind === "Certificate");
    const caIssuers = new Map(
      certs.filter((o) => o.kind === "Issuer" && o.spec.ca).map((o) => [o.metadata.name, o.spec.ca.secretName]),
    );
    const ca = certificates.find((c) => c.spec.isCA)!;
    const caDir = secretDir(ca.spec.secretName);
    mkdirSync(caDir, { recursive: true });
    ssl(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(caDir, "tls.key"),
      "-out",
      join(caDir, "tls.crt"),
      "-days",
      "1",
      "-subj",
      `/CN=${ca.spec.commonName}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    );
    writeFileSync(join(caDir, "ca.crt"), readFileSync(join(caDir, "tls.crt")));
    for (const c of certificates.filter((x) => !x.spec.isCA)) {
      const issuerSecret = caIssuers.get(c.spec.issuerRef.name);
      expect(issuerSecret, `${c.metadata.name} is signed by the CA`).toBe(ca.spec.secretName);
      const out = secretDir(c.spec.secretName);
      mkdirSync(out, { recursive: true });
      const usages: string[] = c.spec.usages;
      const san = [
        ...(c.spec.dnsNames ?? []).map((n: string) => `DNS:${n}`),
        ...(c.spec.ipAddresses ?? []).map((n: string) => `IP:${n}`),
      ];
      const ext = [
        "basicConstraints=critical,CA:FALSE",
        `keyUsage=critical,${usages.flatMap((u) => KEY_USAGE[u] ?? []).join(",")}`,
        `extendedKeyUsage=${usages.flatMap((u) => EXTENDED_USAGE[u] ?? []).join(",")}`,
        ...(san.length > 0 ? [`subjectAltName=${san.join(",")}`] : []),
      ];
      writeFileSync(join(out, "ext.cnf"), `${ext.join("\n")}\n`);
      ssl(
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        join(out, "tls.key"),
        "-out",
        join(out, "tls.csr"),
        "-subj",
        `/CN=${c.spec.commonName}`,
      );
      ssl(
        "x509",
        "-req",
        "-in",
        join(out, "tls.csr"),
        "-CA",
        join(caDir, "tls.crt"),
        "-CAkey",
        join(caDir, "tls.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        join(out, "tls.crt"),
        "-extfile",
        join(out, "ext.cnf"),
      );
      // cert-manager's CA issuer puts the CA certificate beside each leaf as ca.crt.
      writeFileSync(join(out, "ca.crt"), readFileSync(join(caDir, "tls.crt")));
    }
  }

  /** A ConfigMap's data with every path inside a mounted Secret made local. */
  const configEnv = (name: string, mounts: SecretMount[]) =>
    Object.fromEntries(
      Object.entries(find(prod, "ConfigMap", name).data as Record<string, string>).map(([k, v]) => [
        k,
        local(mounts, v),
      ]),
    );

  let cryptoPort = 0;
  let serverTls: { ca: Buffer; cert: Buffer; key: Buffer };

  beforeAll(async () => {
    prod = render(at("k8s", "overlays", "prod"));
    certs = render(at("k8s", "cert-manager"));
    cryptoMounts = secretMounts(find(prod, "Deployment", "cv-wallet-crypto"));
    walletMounts = secretMounts(find(prod, "Deployment", "cv-wallet-wallet"));
    issueCertificates();
    // The service token Secret, as the operator creates it.
    for (const m of [...cryptoMounts, ...walletMounts].filter((x) => x.secretName === "cv-wallet-service-token")) {
      mkdirSync(secretDir(m.secretName), { recursive: true });
      writeFileSync(join(secretDir(m.secretName), "token"), token, { mode: 0o600 });
    }
    const serverSecret = cryptoMounts.find((m) => m.files.includes("tls.crt"))!.secretName;
    serverTls = {
      ca: readFileSync(join(secretDir(serverSecret), "ca.crt")),
      cert: readFileSync(join(secretDir(serverSecret), "tls.crt")),
      key: readFileSync(join(secretDir(serverSecret), "tls.key")),
    };

    // The overlay's environment, minus what points at AWS or MongoDB (the embedded store and
    // local key stand in here) and with loopback addresses instead of the pod's.
    const cryptoEnv = configEnv("cv-wallet-crypto", cryptoMounts);
    for (const k of ["KMS_KEY_ID", "AWS_REGION", "CRYPTO_METRICS_ADDR"]) delete cryptoEnv[k];
    cryptoPort = await freePort();
    services.push(
      await startCrypto(
        "crypto",
        { ...cryptoEnv, CRYPTO_GRPC_ADDR: `127.0.0.1:${cryptoPort}`, CRYPTO_DATA_DIR: join(dir, "crypto") },
        { address: `127.0.0.1:${cryptoPort}`, tls: serverTls },
      ),
    );
    const walletEnv = configEnv("cv-wallet-wallet", walletMounts);
    // A loopback listener and a browser origin of our own (the overlay's is the public host).
    delete walletEnv.WALLET_HTTP_ADDR;
    delete walletEnv.WALLET_PUBLIC_URL;
    // The address exactly as the overlay gives it, on this test's port; its name resolves here.
    const [cryptoHost] = walletEnv.CRYPTO_GRPC_ADDR!.split(":");
    services.push(
      await startWallet("wallet", {
        ...walletEnv,
        CRYPTO_GRPC_ADDR: `${cryptoHost}:${cryptoPort}`,
        WALLET_DATA_DIR: join(dir, "wallet"),
        ...hostsPreload({ [cryptoHost!]: ["127.0.0.1"] }),
      }),
    );
  }, 120_000);

  afterAll(async () => {
    const codes = await Promise.all(services.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
    expect(codes).toEqual(services.map(() => 0));
  });

  test("the overlay's TLS settings are the ones the services read", () => {
    const cryptoEnv = configEnv("cv-wallet-crypto", cryptoMounts);
    const walletEnv = configEnv("cv-wallet-wallet", walletMounts);
    expect(
      Object.keys(cryptoEnv)
        .filter((k) => k.startsWith("CRYPTO_TLS_"))
        .sort(),
    ).toEqual(["CRYPTO_TLS_CERT_FILE", "CRYPTO_TLS_CLIENT_CA_FILE", "CRYPTO_TLS_KEY_FILE"]);
    expect(
      Object.keys(walletEnv)
        .filter((k) => k.includes("TLS"))
        .sort(),
    ).toEqual(["WALLET_CRYPTO_TLS_CA_FILE", "WALLET_CRYPTO_TLS_CERT_FILE", "WALLET_CRYPTO_TLS_KEY_FILE"]);
    // Every one names a file the mounted Secrets hold.
    for (const v of [...Object.values(cryptoEnv), ...Object.values(walletEnv)].filter((x) => x.startsWith(dir))) {
      expect(() => readFileSync(v), v).not.toThrow();
    }
  });

  test("the crypto pod's probe command passes over TLS with the pod's own certificate", () => {
    const probe = find(prod, "Deployment", "cv-wallet-crypto").spec.template.spec.containers[0].readinessProbe;
    const [command, ...args] = probe.exec.command as string[];
    expect(command).toBe("node");
    const r = spawnSync(
      process.execPath,
      args.map((a) => local(cryptoMounts, a)),
      {
        cwd: repoRoot,
        env: { ...process.env, CRYPTO_GRPC_ADDR: `0.0.0.0:${cryptoPort}` },
        encoding: "utf8",
      },
    );
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toContain("SERVING");
  });

  test("a key stored through the wallet comes back (Encrypt and Decrypt over mTLS)", async () => {
    const http = new WalletHttp(`http://${services[1]!.address}`);
    const user = await userWithToken(http, "tls@example.com");
    const key = `sk-tls-${"k".repeat(32)}`;
    const created = await http.call("POST", "/api/keys", {
      bearer: user.token,
      body: { provider: "openai", name: "main", key, isDefault: true },
    });
    expect(created.status).toBe(201);
    const fetched = await http.call<{ key: string }>("GET", "/api/keys/provider/openai", { bearer: user.token });
    expect(fetched.status).toBe(200);
    expect(fetched.json.key).toBe(key);
  });

  test("crypto refuses plaintext and callers without a client certificate", async () => {
    const address = `127.0.0.1:${cryptoPort}`;
    expect((await checkGrpcHealth(address, { timeoutMs: 2000 })).serving).toBe(false);
    expect((await checkGrpcHealth(address, { timeoutMs: 2000, tls: { ca: serverTls.ca } })).serving).toBe(false);
    expect((await checkGrpcHealth(address, { timeoutMs: 2000, tls: serverTls })).serving).toBe(true);
  });
});
