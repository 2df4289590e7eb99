// The layout's rules, checked on every import in the source trees (tests and benchmarks may
// cross them: they start real services). A rule broken here is a dependency running the wrong
// way, which is cheap to fix now and expensive once other code leans on it.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "..");

interface Import {
  /** The importing file, relative to the repository root. */
  file: string;
  /** What it imports, as written. */
  specifier: string;
  /** A relative import resolved against the repository root; undefined for a package. */
  target?: string;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|svelte)$/.test(entry.name) && !/\.test\.ts$/.test(entry.name)) out.push(path);
  }
  return out;
}

// Static `import … from "x"`, `export … from "x"`, bare `import "x"` and dynamic `import("x")`.
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["']([^"']+)["']/gm;

function importsOf(dir: string): Import[] {
  return sourceFiles(dir).flatMap((file) =>
    [...readFileSync(join(root, file), "utf8").matchAll(IMPORT)].map(([, specifier]) => {
      const s = specifier!;
      return s.startsWith(".")
        ? { file, specifier: s, target: relative(root, resolve(root, dirname(file), s)) }
        : { file, specifier: s };
    }),
  );
}

const show = (found: Import[]) => found.map((i) => `${i.file} imports ${i.specifier}`);

const wallet = importsOf("services/wallet/src");
const crypto = importsOf("services/crypto/src");
const common = importsOf("services/common/src");
const web = importsOf("web/src");
const cli = importsOf("cli/src");
const everything = [...wallet, ...crypto, ...common, ...web, ...cli, ...importsOf("deploy")];

const TRANSPORT = /^(express|@connectrpc\/|@grpc\/|node:http2?$|node:net$|mongoose$|node:sqlite$)/;

describe("the layout's dependency rules", () => {
  it("the web UI imports only the generated contracts of the services", () => {
    expect(
      show(web.filter((i) => /^@cv-wallet\//.test(i.specifier) && !/^@cv-wallet\/proto\//.test(i.specifier))),
    ).toEqual([]);
  });

  it("the wallet imports nothing from the crypto service's code", () => {
    expect(
      show(
        wallet.filter((i) => i.specifier.startsWith("@cv-wallet/crypto") || i.target?.startsWith("services/crypto")),
      ),
    ).toEqual([]);
  });

  it("domain code imports no transport, database or adapter module", () => {
    const domain = wallet.filter((i) => i.file.startsWith("services/wallet/src/domain/"));
    const bad = domain.filter(
      (i) =>
        TRANSPORT.test(i.specifier) ||
        /^services\/wallet\/src\/(edge|clients|store\/(sqlite|mongo))\//.test(i.target ?? "") ||
        // The provider registry is data the domain reads; the checker next to it is an HTTP client.
        (/^services\/wallet\/src\/checks\//.test(i.target ?? "") && !i.target!.endsWith("checks/registry.ts")),
    );
    expect(show(bad)).toEqual([]);
    const keyring = crypto.filter((i) => i.file.startsWith("services/crypto/src/keyring/"));
    expect(
      show(
        keyring.filter((i) => TRANSPORT.test(i.specifier) || /\/(edge|store\/(sqlite|mongo))\//.test(i.target ?? "")),
      ),
    ).toEqual([]);
  });

  it("stores are reached only through their ports (adapters are named by the composition roots alone)", () => {
    const roots = new Set([
      "services/wallet/src/start.ts",
      "services/wallet/src/rewrap/rewrap.ts",
      "services/crypto/src/app.ts",
    ]);
    const bad = [...wallet, ...crypto].filter(
      (i) =>
        /\/store\/(sqlite|mongo)\//.test(i.target ?? "") &&
        !roots.has(i.file) &&
        // An adapter's own files import each other.
        !/\/store\/(sqlite|mongo)\//.test(i.file),
    );
    expect(show(bad)).toEqual([]);
  });

  it("nothing imports a main.ts (it is an entry point, not a module)", () => {
    expect(show(everything.filter((i) => /(^|\/)main\.ts$/.test(i.target ?? i.specifier)))).toEqual([]);
  });

  it("the shared errors module loads no transport, so throwing an error pulls in no gRPC", () => {
    expect(show(common.filter((i) => i.file.endsWith("errors.ts") && TRANSPORT.test(i.specifier)))).toEqual([]);
  });

  it("finds the imports it checks (a rule over nothing would pass vacuously)", () => {
    for (const tree of [wallet, crypto, common, web, cli]) expect(tree.length).toBeGreaterThan(20);
    expect(wallet.some((i) => i.file.startsWith("services/wallet/src/domain/"))).toBe(true);
  });
});
