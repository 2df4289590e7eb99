// deploy/compose.yaml: validated by Debian's docker-compose (`config -q`, its Compose schema)
// where installed, and always held to the rules by parsing it: MongoDB as a one-node
// replica set with a healthcheck, LocalStack KMS with an init hook creating the key and alias,
// crypto on KMS and its own database, the wallet on crypto, the service token from a file
// (never a value in the file), only the wallet's port published (crypto on 127.0.0.1).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { reportSkip } from "@cv-wallet/common/testing/skips";
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { at, which } from "./support/paths.ts";

// biome-ignore lint/suspicious/noExplicitAny: the compose document is checked field by field
type Doc = Record<string, any>;
const file = at("compose.yaml");
const compose = parse(readFileSync(file, "utf8"), { merge: true }) as Doc;
const services = compose.services as Record<string, Doc>;
/** A compose `${NAME:-default}` interpolation. */
const interpolation = (name: string, fallback: string) => `$${"{"}${name}:-${fallback}}`;
const dockerCompose = which("docker-compose");
if (!dockerCompose) {
  reportSkip(
    "deploy compose schema",
    "docker-compose (Debian package) is not installed; the rule checks below still run on the parsed file",
  );
}

describe("deploy/compose.yaml", () => {
  test.runIf(Boolean(dockerCompose))("docker-compose config accepts it (the Compose schema)", () => {
    const out = execFileSync(dockerCompose!, ["-f", file, "config"], { encoding: "utf8" });
    const resolved = parse(out) as Doc;
    expect(Object.keys(resolved.services).sort()).toEqual([
      "crypto",
      "localstack",
      "mongodb",
      "service-token",
      "wallet",
    ]);
  });

  test("MongoDB: a pinned image, one-node replica set, a healthcheck that initiates it", () => {
    const m = services.mongodb!;
    expect(m.image).toMatch(/^mongo:\d+\.\d+\.\d+$/);
    expect(m.command).toEqual(expect.arrayContaining(["--replSet", "rs0"]));
    expect(m.healthcheck.test.join(" ")).toMatch(/rs\.status\(\).*rs\.initiate/);
    expect(m.ports).toBeUndefined();
  });

  test("LocalStack with KMS and an init hook that creates the key and its alias", () => {
    const l = services.localstack!;
    expect(l.image).toMatch(/^localstack\/localstack:\d+\.\d+\.\d+$/);
    expect(l.environment.SERVICES).toBe("kms");
    const hook = l.volumes.find((v: string) => v.includes("/etc/localstack/init/ready.d/"));
    const script = readFileSync(at(hook.split(":")[0]), "utf8");
    expect(script).toMatch(/kms create-key/);
    expect(script).toMatch(/kms create-alias --alias-name "\$alias_name"/);
    expect(script).toMatch(/alias\/cv-wallet/);
    expect(l.healthcheck.test.join(" ")).toMatch(/describe-key --key-id alias\/cv-wallet/);
    expect(l.ports).toBeUndefined();
  });

  test("crypto: KMS at LocalStack, its own MongoDB database, waits for both", () => {
    const c = services.crypto!;
    expect(c.environment.KMS_KEY_ID).toBe("alias/cv-wallet");
    expect(c.environment.AWS_ENDPOINT_URL_KMS).toBe("http://localstack:4566");
    expect(c.environment.MONGODB_URI).toMatch(/^mongodb:\/\/mongodb:27017\/cvwallet_crypto\?replicaSet=rs0$/);
    expect(c.environment.CRYPTO_GRPC_ADDR).toBe("0.0.0.0:50051");
    expect(c.depends_on).toMatchObject({
      mongodb: { condition: "service_healthy" },
      localstack: { condition: "service_healthy" },
      "service-token": { condition: "service_completed_successfully" },
    });
    expect(c.build.target).toBe("crypto");
  });

  test("wallet: its own database, crypto by service name, waits for a healthy crypto", () => {
    const w = services.wallet!;
    expect(w.environment.MONGODB_URI).toMatch(/^mongodb:\/\/mongodb:27017\/cvwallet\?replicaSet=rs0$/);
    expect(w.environment.MONGODB_URI).not.toBe(services.crypto!.environment.MONGODB_URI);
    expect(w.environment.CRYPTO_GRPC_ADDR).toBe("crypto:50051");
    expect(w.depends_on.crypto).toEqual({ condition: "service_healthy" });
    expect(w.build.target).toBe("wallet");
  });

  test("the service token comes from a file both read; no token value in the compose file", () => {
    for (const name of ["crypto", "wallet"]) {
      const s = services[name]!;
      expect(s.environment.CRYPTO_SERVICE_TOKEN).toBeUndefined();
      expect(s.environment.CRYPTO_SERVICE_TOKEN_FILE).toBe("/run/cv-wallet/secrets/crypto-service-token");
      expect(s.volumes).toContain("service-token:/run/cv-wallet/secrets:ro");
    }
    const init = services["service-token"]!;
    // Only an interpolation from the operator's environment / deploy/.env, never a literal.
    expect(init.environment.CVW_SERVICE_TOKEN).toBe(interpolation("CVW_SERVICE_TOKEN", ""));
    expect(init.network_mode).toBe("none");
    // The only credentials in the file are LocalStack's documented dummies.
    expect(services.crypto!.environment.AWS_ACCESS_KEY_ID).toBe("test");
    expect(services.crypto!.environment.AWS_SECRET_ACCESS_KEY).toBe("test");
  });

  test("only the wallet's port is published; crypto's gRPC only on 127.0.0.1", () => {
    const published = Object.entries(services).filter(([, s]) => s.ports);
    expect(published.map(([n]) => n).sort()).toEqual(["crypto", "wallet"]);
    expect(services.crypto!.ports).toEqual([`127.0.0.1:${interpolation("CVW_CRYPTO_PORT", "50051")}:50051`]);
    expect(services.wallet!.ports).toEqual([`${interpolation("CVW_WALLET_PORT", "8080")}:8080`]);
  });

  test("the services run hardened: read-only root, no capabilities, an init, no new privileges", () => {
    for (const name of ["crypto", "wallet"]) {
      const s = services[name]!;
      expect(s.read_only, name).toBe(true);
      expect(s.init, name).toBe(true);
      expect(s.cap_drop, name).toEqual(["ALL"]);
      expect(s.security_opt, name).toContain("no-new-privileges:true");
      expect(s.user, name).toBeUndefined(); // the image's numeric non-root user
    }
  });
});
