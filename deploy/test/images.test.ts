// The images, checked from their source (a build needs a container engine; the podman smoke
// test in `npm run test:deploy` builds and runs them where one exists). The Dockerfile is
// parsed with dockerfile-ast and held to the rules: the official Node 24 slim base
// pinned to .nvmrc's version, multi-stage with production-only dependencies at run time,
// a numeric non-root user, NODE_ENV=production, exec-form entrypoints, a HEALTHCHECK each,
// nothing secret or fetched baked in.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DockerfileParser } from "dockerfile-ast";
import { describe, expect, test } from "vitest";
import { at, repoRoot } from "./support/paths.ts";

interface Step {
  keyword: string;
  args: string;
  line: number;
}
interface Stage {
  name: string;
  from: string;
  steps: Step[];
}

function parseStages(text: string): { args: Map<string, string>; stages: Stage[] } {
  const dockerfile = DockerfileParser.parse(text);
  const lines = text.split("\n");
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const i of dockerfile.getInstructions()) {
    const keyword = i.getKeyword();
    // The instruction's own text (flags such as --from included), continuation lines joined.
    const r = i.getRange();
    const raw = lines.slice(r.start.line, r.end.line + 1).join("\n");
    const content = raw
      .replace(/\\\n\s*/g, " ")
      .replace(/^\s*\S+\s*/, "")
      .trim();
    const line = i.getRange().start.line + 1;
    if (keyword === "FROM") {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(content.trim());
      if (!m) throw new Error(`line ${line}: FROM ${content}`);
      stages.push({ from: m[1]!, name: m[2] ?? `#${stages.length}`, steps: [] });
    } else if (stages.length === 0) {
      if (keyword === "ARG") {
        const [k, v] = content.split("=", 2);
        args.set(k!.trim(), (v ?? "").trim());
      }
    } else {
      stages.at(-1)!.steps.push({ keyword, args: content, line });
    }
  }
  return { args, stages };
}

const dockerfileText = readFileSync(at("docker", "Dockerfile"), "utf8");
const { args, stages } = parseStages(dockerfileText);
const stage = (name: string) => {
  const s = stages.find((x) => x.name === name);
  if (!s) throw new Error(`no stage ${name}`);
  return s;
};
/** The stage and the stages it is built FROM, nearest first. */
const lineage = (name: string): Stage[] => {
  const s = stage(name);
  return stages.some((x) => x.name === s.from) ? [s, ...lineage(s.from)] : [s];
};
const allSteps = (name: string) =>
  lineage(name)
    .reverse()
    .flatMap((s) => s.steps);
// biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile variable reference, not a JS template
const BASE_REF = "${NODE_IMAGE}";
const nodeVersion = readFileSync(join(repoRoot, ".nvmrc"), "utf8").trim();

describe("deploy/docker/Dockerfile", () => {
  test("the base is the official Node image pinned to .nvmrc's exact version, slim", () => {
    expect(args.get("NODE_IMAGE")).toBe(`node:${nodeVersion}-bookworm-slim`);
    for (const s of stages) {
      // Every stage starts from the pinned base or from an earlier stage: nothing unpinned, no :latest.
      expect(s.from === BASE_REF || stages.some((x) => x.name === s.from), `${s.name} FROM ${s.from}`).toBe(true);
    }
  });

  for (const target of ["crypto", "wallet"]) {
    describe(`target ${target}`, () => {
      const steps = allSteps(target);
      const last = (keyword: string) => steps.filter((s) => s.keyword === keyword).at(-1);

      test("runs as a numeric non-root user (so Kubernetes' runAsNonRoot can verify it)", () => {
        const user = last("USER");
        expect(user?.args).toMatch(/^[1-9]\d*:[1-9]\d*$/);
      });

      test("NODE_ENV=production and production dependencies only", () => {
        expect(steps.some((s) => s.keyword === "ENV" && /\bNODE_ENV=production\b/.test(s.args))).toBe(true);
        // The hoisted node_modules, and the workspace's own for versions that differ from the root's.
        const deps = steps.filter((s) => s.keyword === "COPY" && s.args.includes("node_modules"));
        expect(deps.map((d) => d.args.split(/\s+/).slice(-2).join(" "))).toEqual([
          "/app/node_modules/ node_modules/",
          `/app/services/${target}/node_modules/ services/${target}/node_modules/`,
        ]);
        for (const d of deps) expect(/--from=(\S+)/.exec(d.args)?.[1]).toBe(`${target}-deps`);
        const install = stage(`${target}-deps`).steps.find((s) => s.keyword === "RUN" && s.args.includes("npm ci"));
        expect(install?.args).toMatch(/--omit=dev/);
        expect(install?.args).toMatch(new RegExp(`-w services/${target}\\b`));
      });

      test("exec-form ENTRYPOINT (node is PID 1 and gets SIGTERM) naming a file that exists", () => {
        const entry = last("ENTRYPOINT");
        const argv = JSON.parse(entry!.args) as string[];
        expect(argv[0]).toBe("node");
        expect(existsSync(join(repoRoot, argv[1]!)) || argv[1] === `services/${target}/src/main.ts`).toBe(true);
        expect(argv[1]).toBe(`services/${target}/src/main.ts`);
        expect(last("STOPSIGNAL")?.args ?? "SIGTERM").toBe("SIGTERM");
      });

      test("a HEALTHCHECK in exec form running a probe shipped in the image", () => {
        const hc = last("HEALTHCHECK");
        const m = /CMD\s+(\[.*\])\s*$/s.exec(hc!.args.replace(/\\\n/g, " "));
        const argv = JSON.parse(m![1]!) as string[];
        expect(argv[0]).toBe("node");
        expect(existsSync(join(repoRoot, argv[1]!))).toBe(true);
        expect(argv[1]).toBe(target === "crypto" ? "deploy/probes/grpc-health.ts" : "deploy/probes/http-health.ts");
        expect(steps.some((s) => s.keyword === "COPY" && s.args.startsWith("deploy/probes/"))).toBe(true);
      });

      test("listens on all interfaces in the container (loopback would be unreachable)", () => {
        const envs = steps
          .filter((s) => s.keyword === "ENV")
          .map((s) => s.args)
          .join(" ");
        expect(envs).toMatch(
          target === "crypto" ? /CRYPTO_GRPC_ADDR=0\.0\.0\.0:50051/ : /WALLET_HTTP_ADDR=0\.0\.0\.0:8080/,
        );
      });
    });
  }

  test("the wallet image carries the built web UI, and serves it from there", () => {
    const steps = allSteps("wallet");
    expect(steps.some((s) => s.keyword === "COPY" && /--from=web-build\s+\/app\/web\/build\/?\s/.test(s.args))).toBe(
      true,
    );
    expect(steps.some((s) => s.keyword === "ENV" && /WALLET_WEB_DIR=\/app\/web\/build/.test(s.args))).toBe(true);
    expect(stage("web-build").steps.some((s) => s.keyword === "RUN" && /npm run build -w web/.test(s.args))).toBe(true);
  });

  test("no secrets, URLs or fetched Node baked in", () => {
    for (const s of stages.flatMap((x) => x.steps)) {
      if (s.keyword === "ENV" || s.keyword === "ARG") {
        expect(s.args, `line ${s.line}`).not.toMatch(/(TOKEN|SECRET|PASSWORD|ACCESS_KEY)[A-Z_]*=/);
      }
      expect(s.keyword, `line ${s.line}: ADD fetches; use COPY`).not.toBe("ADD");
      if (s.keyword === "RUN") expect(s.args, `line ${s.line}`).not.toMatch(/curl|wget|\| *sh\b/);
      if (s.keyword === "COPY" && !s.args.includes("--from=")) {
        for (const src of s.args.split(/\s+/).slice(0, -1)) {
          expect(existsSync(join(repoRoot, src)), `COPY ${src} exists`).toBe(true);
          expect(src, `line ${s.line}`).not.toMatch(/node_modules|\.cache|\.env|data\//);
        }
      }
    }
    // A build secret is mounted for the proxy CA, never written into a layer.
    const caUse = stages.flatMap((x) => x.steps).filter((s) => s.args.includes("npm_ca"));
    for (const s of caUse) expect(s.args).toMatch(/^--mount=type=secret,id=npm_ca /);
  });

  test("the .dockerignore at the build context (repository root) keeps the host's state out", () => {
    const ignore = readFileSync(join(repoRoot, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    for (const pattern of ["**/node_modules", ".cache", ".git", "**/data", "**/.env", "web/build", "deploy/secrets"]) {
      expect(ignore, pattern).toContain(pattern);
    }
    expect(dockerfileText).toMatch(/build context is the REPOSITORY ROOT/);
  });
});
