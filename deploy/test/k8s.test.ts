// The Kubernetes manifests: each overlay renders with kustomize, every object is valid
// against the Kubernetes schemas (values and field names), and the rules the issue sets hold:
// ≥ 2 replicas with rolling updates, probes (native gRPC for crypto), requests and limits,
// non-root / read-only / no capabilities / RuntimeDefault seccomp, PDBs, an HPA, a
// NetworkPolicy that admits only the wallet to crypto, IRSA, Secrets by name only, an Ingress.
import { readdirSync, readFileSync } from "node:fs";
import { reportSkip } from "@cv-wallet/common/testing/skips";
import { beforeAll, describe, expect, test } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  type K8sObject,
  kubectl,
  parseYamlDocuments,
  render,
  schemaErrors,
  unknownFieldErrors,
} from "./support/k8s.ts";
import { at } from "./support/paths.ts";

const overlays = ["dev", "prod"] as const;
const SUITE = "deploy k8s render";

/** The base's resource files, parsed without kustomize (always possible). */
function baseFiles(): K8sObject[] {
  const dir = at("k8s", "base");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
    .flatMap((f) => parseYamlDocuments(readFileSync(`${dir}/${f}`, "utf8")));
}

const find = (objects: K8sObject[], kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${kind}/${name} missing`);
  return o;
};

describe("base resource files (no kustomize needed)", () => {
  const objects = baseFiles();

  test("every object is valid against the Kubernetes schemas, field names included", async () => {
    expect(await schemaErrors(objects)).toEqual([]);
    expect(unknownFieldErrors("base", objects)).toEqual([]);
  });

  test("a misspelt field is caught (the check can fail)", () => {
    const broken = structuredClone(objects);
    const d = find(broken, "Deployment", "cv-wallet-crypto");
    d.spec.template.spec.containers[0].readinesProbe = d.spec.template.spec.containers[0].readinessProbe;
    expect(unknownFieldErrors("base-broken", broken).join("\n")).toMatch(/readinesProbe/);
  });

  test("custom resources are checked against their own models (the PrometheusRule)", async () => {
    const broken = structuredClone(objects);
    const rule = find(broken, "PrometheusRule", "cv-wallet");
    rule.spec.groups[0].rules[0].forr = "5m";
    expect(unknownFieldErrors("base-broken-rule", broken).join("\n")).toMatch(/forr/);
    rule.spec.groups[0].rules[0].for = 5;
    expect((await schemaErrors([rule])).join("\n")).toMatch(/PrometheusRule\/cv-wallet/);
  });

  test("no Secret object and no inline secret value anywhere", () => {
    expect(objects.filter((o) => o.kind === "Secret")).toEqual([]);
    const text = JSON.stringify(objects);
    expect(text).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY|AKIA[0-9A-Z]{16}|aws_secret_access_key/i);
  });
});

for (const overlay of overlays) {
  describe(`overlay ${overlay}`, () => {
    let objects: K8sObject[] = [];
    if (!kubectl) {
      reportSkip(
        `${SUITE} (${overlay})`,
        "kubectl (with its built-in kustomize) is not on PATH; the base files are still checked one by one",
      );
    }
    beforeAll(() => {
      if (kubectl) objects = render(at("k8s", "overlays", overlay));
    });
    const needsRender = () => objects.length > 0;

    test.runIf(Boolean(kubectl))("renders and every object is schema-valid, field names included", async () => {
      expect(needsRender()).toBe(true);
      expect(await schemaErrors(objects)).toEqual([]);
      expect(unknownFieldErrors(overlay, objects)).toEqual([]);
      for (const o of objects) {
        if (o.kind !== "Namespace")
          expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(
            `cv-wallet${overlay === "dev" ? "-dev" : ""}`,
          );
      }
    });

    test.runIf(Boolean(kubectl))(
      "both services: ≥ 2 replicas, rolling updates, hardened pods, requests and limits",
      () => {
        for (const name of ["cv-wallet-crypto", "cv-wallet-wallet"]) {
          const d = find(objects, "Deployment", name);
          expect(d.spec.replicas, name).toBeGreaterThanOrEqual(2);
          expect(d.spec.strategy.type).toBe("RollingUpdate");
          expect(d.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
          const pod = d.spec.template.spec;
          expect(pod.securityContext.runAsNonRoot).toBe(true);
          expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
          expect(pod.securityContext.seccompProfile.type).toBe("RuntimeDefault");
          expect(pod.containers).toHaveLength(1);
          for (const c of pod.containers) {
            expect(c.securityContext).toMatchObject({
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              runAsNonRoot: true,
              capabilities: { drop: ["ALL"] },
              seccompProfile: { type: "RuntimeDefault" },
            });
            expect(c.securityContext.capabilities.add).toBeUndefined();
            for (const r of ["cpu", "memory"]) {
              expect(c.resources.requests[r], `${name} requests.${r}`).toBeDefined();
              expect(c.resources.limits[r], `${name} limits.${r}`).toBeDefined();
            }
            expect(c.image).toMatch(/:[\w.-]+$/);
            expect(c.readinessProbe && c.livenessProbe, `${name} probes`).toBeTruthy();
          }
          expect(pod.hostNetwork ?? false).toBe(false);
          expect(pod.volumes.some((v: { hostPath?: unknown }) => v.hostPath)).toBe(false);
        }
      },
    );

    test.runIf(Boolean(kubectl))(
      "crypto's probes ask grpc.health.v1 (over mTLS in prod); the wallet /healthz and /readyz",
      () => {
        const crypto = find(objects, "Deployment", "cv-wallet-crypto").spec.template.spec.containers[0];
        for (const p of ["readinessProbe", "livenessProbe", "startupProbe"]) {
          if (overlay === "prod") {
            // Kubernetes' native gRPC probe speaks no TLS: the image's probe, with the pod's certificate.
            expect(crypto[p].grpc, p).toBeUndefined();
            expect(crypto[p].exec.command.slice(0, 2), p).toEqual(["node", "deploy/probes/grpc-health.ts"]);
            const args: string[] = crypto[p].exec.command;
            for (const flag of ["--ca", "--cert", "--key"])
              expect(args[args.indexOf(flag) + 1], `${p} ${flag}`).toMatch(/^\/var\/run\/secrets\/cv-wallet-tls\//);
          } else expect(crypto[p].grpc.port).toBe(50051);
        }
        const wallet = find(objects, "Deployment", "cv-wallet-wallet").spec.template.spec.containers[0];
        expect(wallet.readinessProbe.httpGet.path).toBe("/readyz");
        expect(wallet.livenessProbe.httpGet.path).toBe("/healthz");
      },
    );

    test.runIf(Boolean(kubectl))("Services, PDBs, the wallet's HPA and Ingress", () => {
      expect(find(objects, "Service", "cv-wallet-crypto").spec.ports[0].port).toBe(50051);
      expect(find(objects, "Service", "cv-wallet-wallet").spec.ports[0].targetPort).toBe("http");
      for (const name of ["cv-wallet-crypto", "cv-wallet-wallet"]) {
        const pdb = find(objects, "PodDisruptionBudget", name);
        expect(pdb.spec.minAvailable).toBe(1);
        expect(pdb.spec.selector.matchLabels["app.kubernetes.io/name"]).toBe(name);
      }
      const hpa = find(objects, "HorizontalPodAutoscaler", "cv-wallet-wallet");
      expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: "Deployment", name: "cv-wallet-wallet" });
      expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
      expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
      const ingress = find(objects, "Ingress", "cv-wallet-wallet");
      expect(ingress.spec.rules[0].http.paths[0].backend.service.name).toBe("cv-wallet-wallet");
      expect(objects.filter((o) => o.kind === "Ingress")).toHaveLength(1);
    });

    test.runIf(Boolean(kubectl))("NetworkPolicy: only the wallet's pods reach crypto, on its gRPC port", () => {
      const policies = objects.filter(
        (o) =>
          o.kind === "NetworkPolicy" &&
          o.spec.podSelector.matchLabels?.["app.kubernetes.io/name"] === "cv-wallet-crypto",
      );
      expect(policies).toHaveLength(1);
      const p = policies[0]!;
      expect(p.spec.policyTypes).toContain("Ingress");
      type Rule = { from?: unknown[]; ports?: { port: number }[] };
      // Every rule that opens the gRPC port (a rule without ports opens all) admits the wallet's pods only.
      const grpcRules = p.spec.ingress.filter((r: Rule) => !r.ports || r.ports.some((x) => x.port === 50051));
      expect(grpcRules.length).toBeGreaterThan(0);
      const sources = grpcRules.flatMap((r: Rule) => r.from ?? [{ everyone: true }]);
      expect(sources).toEqual([{ podSelector: { matchLabels: { "app.kubernetes.io/name": "cv-wallet-wallet" } } }]);
      // The selector matches the wallet pods' labels, so the rule admits them.
      const walletLabels = find(objects, "Deployment", "cv-wallet-wallet").spec.template.metadata.labels;
      expect(walletLabels["app.kubernetes.io/name"]).toBe("cv-wallet-wallet");
    });

    test.runIf(Boolean(kubectl))("Secrets are referenced by name only; none is committed", () => {
      expect(objects.filter((o) => o.kind === "Secret")).toEqual([]);
      const referenced = new Set<string>();
      for (const name of ["cv-wallet-crypto", "cv-wallet-wallet"]) {
        const pod = find(objects, "Deployment", name).spec.template.spec;
        for (const v of pod.volumes) if (v.secret) referenced.add(v.secret.secretName);
        for (const e of pod.containers[0].env ?? [])
          if (e.valueFrom?.secretKeyRef) referenced.add(e.valueFrom.secretKeyRef.name);
        // The service token is a file from a Secret, never an inline env value.
        expect(pod.containers[0].env?.some((e: { name: string }) => e.name === "CRYPTO_SERVICE_TOKEN")).toBe(false);
      }
      expect(referenced).toContain("cv-wallet-service-token");
      for (const cm of objects.filter((o) => o.kind === "ConfigMap")) {
        for (const [k, v] of Object.entries(cm.data ?? {})) {
          expect(k).not.toMatch(/^(CRYPTO_SERVICE_TOKEN|MONGODB_URI)$/);
          // Only LocalStack's documented dummy credentials may appear (dev).
          if (/SECRET|PASSWORD|TOKEN$/.test(k)) expect([overlay, v]).toEqual(["dev", "test"]);
        }
      }
    });

    // Production only: the dev overlay keeps one plaintext ClusterIP Service (a laptop cluster).
    if (overlay === "prod")
      test.runIf(Boolean(kubectl))(
        "prod: the wallet spreads over a headless crypto Service, over mTLS from operator Secrets",
        () => {
          const headless = find(objects, "Service", "cv-wallet-crypto-headless");
          expect(headless.spec.clusterIP).toBe("None");
          expect(headless.spec.selector).toEqual(find(objects, "Service", "cv-wallet-crypto").spec.selector);
          expect(headless.spec.ports).toEqual([expect.objectContaining({ port: 50051, targetPort: "grpc" })]);
          const config = (name: string) =>
            objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.startsWith(name))!.data as Record<
              string,
              string
            >;
          const wallet = config("cv-wallet-wallet");
          const crypto = config("cv-wallet-crypto");
          // A target without a scheme resolves through DNS in grpc-js: every ready pod's address.
          expect(wallet.CRYPTO_GRPC_ADDR).toBe("cv-wallet-crypto-headless:50051");
          const mounted = (deployment: string) => {
            const pod = find(objects, "Deployment", deployment).spec.template.spec;
            const mount = pod.containers[0].volumeMounts.find(
              (m: { mountPath: string }) => m.mountPath === "/var/run/secrets/cv-wallet-tls",
            );
            return pod.volumes.find((v: { name: string }) => v.name === mount.name).secret;
          };
          expect(mounted("cv-wallet-crypto").secretName).toBe("cv-wallet-crypto-server-tls");
          expect(mounted("cv-wallet-wallet").secretName).toBe("cv-wallet-crypto-client-tls");
          for (const secret of [mounted("cv-wallet-crypto"), mounted("cv-wallet-wallet")]) {
            expect(secret.items.map((i: { key: string }) => i.key).sort()).toEqual(["ca.crt", "tls.crt", "tls.key"]);
          }
          expect(crypto).toMatchObject({
            CRYPTO_TLS_CERT_FILE: "/var/run/secrets/cv-wallet-tls/tls.crt",
            CRYPTO_TLS_KEY_FILE: "/var/run/secrets/cv-wallet-tls/tls.key",
            CRYPTO_TLS_CLIENT_CA_FILE: "/var/run/secrets/cv-wallet-tls/ca.crt",
          });
          expect(wallet).toMatchObject({
            WALLET_CRYPTO_TLS_CA_FILE: "/var/run/secrets/cv-wallet-tls/ca.crt",
            WALLET_CRYPTO_TLS_CERT_FILE: "/var/run/secrets/cv-wallet-tls/tls.crt",
            WALLET_CRYPTO_TLS_KEY_FILE: "/var/run/secrets/cv-wallet-tls/tls.key",
          });
        },
      );

    test.runIf(Boolean(kubectl))("the alert rules: a PrometheusRule in prod (the rules file), none in dev", () => {
      const rules = objects.filter((o) => o.kind === "PrometheusRule");
      if (overlay === "prod") {
        expect(rules).toHaveLength(1);
        expect(rules[0]!.spec).toEqual(parseYaml(readFileSync(at("prometheus", "alerts.yaml"), "utf8")));
      } else expect(rules).toEqual([]);
    });

    test.runIf(Boolean(kubectl))("crypto: a KMS key (never the per-pod local key file), IRSA in prod", () => {
      const config = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("cv-wallet-crypto"))!;
      expect(config.data.KMS_KEY_ID).toBeTruthy();
      const sa = find(objects, "ServiceAccount", "cv-wallet-crypto");
      const deployment = find(objects, "Deployment", "cv-wallet-crypto");
      expect(deployment.spec.template.spec.serviceAccountName).toBe("cv-wallet-crypto");
      if (overlay === "prod") {
        expect(sa.metadata.annotations?.["eks.amazonaws.com/role-arn"]).toMatch(/^arn:aws:iam::\d{12}:role\//);
        expect(config.data.KMS_KEY_ID).toMatch(/^arn:aws:kms:/);
        expect(config.data.AWS_ENDPOINT_URL_KMS).toBeUndefined();
        expect(config.data.AWS_ACCESS_KEY_ID).toBeUndefined();
        const ns = find(objects, "Namespace", "cv-wallet");
        expect(ns.metadata.labels?.["pod-security.kubernetes.io/enforce"]).toBe("restricted");
      } else {
        expect(config.data.AWS_ENDPOINT_URL_KMS).toMatch(/^http:\/\/localstack:/);
        expect(find(objects, "StatefulSet", "cv-wallet-mongodb").spec.replicas).toBe(1);
      }
      // The wallet needs no Kubernetes or AWS API: no token in its pods.
      expect(find(objects, "Deployment", "cv-wallet-wallet").spec.template.spec.automountServiceAccountToken).toBe(
        false,
      );
      expect(find(objects, "ServiceAccount", "cv-wallet-wallet").automountServiceAccountToken).toBe(false);
    });
  });
}

describe("cert-manager: the certificates for mTLS between wallet and crypto", () => {
  let objects: K8sObject[] = [];
  let prod: K8sObject[] = [];
  if (!kubectl) reportSkip(`${SUITE} (cert-manager)`, "kubectl (with its built-in kustomize) is not on PATH");
  beforeAll(() => {
    if (kubectl) {
      objects = render(at("k8s", "cert-manager"));
      prod = render(at("k8s", "overlays", "prod"));
    }
  });

  test.runIf(Boolean(kubectl))("renders, valid against cert-manager's own schemas, field names included", async () => {
    expect(objects.length).toBeGreaterThan(0);
    expect(await schemaErrors(objects)).toEqual([]);
    expect(unknownFieldErrors("cert-manager", objects)).toEqual([]);
    for (const o of objects) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe("cv-wallet");
    expect(objects.filter((o) => o.kind === "Secret")).toEqual([]);
  });

  test.runIf(Boolean(kubectl))(
    "self-signed Issuer → CA → CA Issuer → the server and client certificates the prod overlay mounts",
    () => {
      const issuer = (name: string) => find(objects, "Issuer", name);
      const certificates = objects.filter((o) => o.kind === "Certificate");
      const ca = certificates.filter((c) => c.spec.isCA);
      expect(ca).toHaveLength(1);
      expect(issuer(ca[0]!.spec.issuerRef.name).spec.selfSigned).toEqual({});
      const caIssuers = objects.filter((o) => o.kind === "Issuer" && o.spec.ca);
      expect(caIssuers.map((i) => i.spec.ca.secretName)).toEqual([ca[0]!.spec.secretName]);
      const leaves = certificates.filter((c) => !c.spec.isCA);
      for (const c of leaves) {
        expect(c.spec.issuerRef, c.metadata.name).toMatchObject({ name: caIssuers[0]!.metadata.name, kind: "Issuer" });
        expect(c.spec.privateKey.rotationPolicy, c.metadata.name).toBe("Always");
      }
      const bySecret = (name: string) => leaves.find((c) => c.spec.secretName === name)!;
      const mountedSecret = (deployment: string) =>
        find(prod, "Deployment", deployment).spec.template.spec.volumes.find(
          (v: { name: string }) => v.name === "crypto-tls",
        ).secret.secretName;
      const server = bySecret(mountedSecret("cv-wallet-crypto"));
      const client = bySecret(mountedSecret("cv-wallet-wallet"));
      expect(server && client).toBeTruthy();
      // The name the wallet dials is in crypto's certificate; 127.0.0.1 for the pod's own probe,
      // which presents that certificate as a client.
      const walletConfig = prod.find((o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("cv-wallet-wallet"))!;
      expect(server.spec.dnsNames).toContain(walletConfig.data.CRYPTO_GRPC_ADDR.split(":")[0]);
      expect(server.spec.dnsNames).toContain("cv-wallet-crypto");
      expect(server.spec.ipAddresses).toEqual(["127.0.0.1"]);
      expect(server.spec.usages).toEqual(expect.arrayContaining(["server auth", "client auth"]));
      expect(client.spec.usages).toContain("client auth");
      expect(client.spec.usages).not.toContain("server auth");
    },
  );
});
