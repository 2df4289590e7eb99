// Builds what the npm package ships (run by `npm pack` through prepack, and by turbo's build):
// dist/cvw.js and dist/index.js as ES2022 bundles for Node >= 20, and dist/*.d.ts. The
// workspace packages (@cv-wallet/proto and the buf/validate descriptors its generated code
// imports) are not published, so they are bundled in; published dependencies stay imports
// and are declared in package.json. The generated .d.ts of the wallet messages are copied
// to dist/proto so the library's types need nothing unpublished either.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { build } from "esbuild";

const here = join(import.meta.dirname, "..");
const dist = join(here, "dist");
const pkg = JSON.parse(readFileSync(join(here, "package.json"), "utf8")) as { dependencies: Record<string, string> };
const external = Object.keys(pkg.dependencies).flatMap((d) => [d, `${d}/*`]);

rmSync(dist, { recursive: true, force: true });

await build({
  entryPoints: { cvw: join(here, "src/main.ts"), index: join(here, "src/index.ts") },
  outdir: dist,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external,
  chunkNames: "chunks/[name]-[hash]",
  legalComments: "none",
  logLevel: "warning",
});

// Types: tsc writes declarations for src/, then imports are pointed at what dist holds.
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const types = join(dist, ".types");
execFileSync(process.execPath, [tsc, "-p", join(here, "tsconfig.build.json"), "--outDir", types], { stdio: "inherit" });
const genDir = join(here, "../proto/gen/cvwallet/wallet/v1");
const protoOut = join(dist, "proto");
mkdirSync(protoOut, { recursive: true });
const genFiles = readdirSync(genDir).filter((f) => f.endsWith("_pb.d.ts"));
for (const f of genFiles) copyFileSync(join(genDir, f), join(protoOut, f));
writeFileSync(
  join(protoOut, "wallet.d.ts"),
  `${genFiles.map((f) => `export * from "./${f.replace(/\.d\.ts$/, ".js")}";`).join("\n")}\n`,
);
for (const f of readdirSync(types, { recursive: true }) as string[]) {
  if (!f.endsWith(".d.ts")) continue;
  const target = join(dist, f);
  const toProto = relative(dirname(target), join(protoOut, "wallet.js"));
  const text = readFileSync(join(types, f), "utf8")
    .replace(/(from\s+["']\.{1,2}\/[^"']+)\.ts(["'])/g, "$1.js$2")
    .replaceAll("@cv-wallet/proto/wallet/v1", toProto.startsWith(".") ? toProto : `./${toProto}`)
    .replace(/(import\s+\w+\s+from\s+["'][^"']*package\.json["'])\s*with\s*\{[^}]*\}/g, "$1");
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, text);
}
rmSync(types, { recursive: true, force: true });
console.error(`[cv-wallet] built ${relative(process.cwd(), dist)} (cvw.js, index.js, types)`);
