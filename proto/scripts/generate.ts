// Compiles the contracts and generates TypeScript from them, offline.
//
//   node scripts/generate.ts          rebuild gen/ (image, code) from cvwallet/**/*.proto
//   node scripts/generate.ts --check  buf lint, then rebuild into a temp dir and fail if it
//                                     differs from the committed gen/, then buf breaking
//                                     against the previous commit's image
//
// Why not plain `buf generate`: buf.validate's .proto would come from the Buf Schema
// Registry, which is unreachable here. @bufbuild/protovalidate ships its descriptors, so we
// write them out as a FileDescriptorSet, let Debian's protoc compile our files against it
// into one image (with source info, for comments), write the catalog's rules into it
// (catalog-rules.ts), and hand that image to buf.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { create, type DescFile, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { file_buf_validate_validate } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { injectCatalogRules } from "./catalog-rules.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const healthProtoRoot = join(
  dirname(createRequire(import.meta.url).resolve("grpc-health-check/package.json")),
  "proto",
);
const check = process.argv.includes("--check");
const say = (line: string) => console.log(`[proto] ${line}`);

function fail(message: string): never {
  console.error(`[proto] ${message}`);
  process.exit(1);
}

function run(cmd: string, args: string[], cwd = root): void {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(" ")} failed:\n${r.stdout}${r.stderr}`);
}

function protoFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".proto"))
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .sort();
}

/** buf.validate and its imports, dependencies first, as protoc's --descriptor_set_in wants. */
function validateDescriptorSet(): Uint8Array {
  const seen = new Map<string, DescFile>();
  const visit = (f: DescFile) => {
    if (seen.has(f.name)) return;
    for (const d of f.dependencies) visit(d);
    seen.set(f.name, f);
  };
  visit(file_buf_validate_validate);
  const set = create(FileDescriptorSetSchema, { file: [...seen.values()].map((f) => f.proto) });
  return toBinary(FileDescriptorSetSchema, set);
}

/** Builds gen/ (image + generated code) into outDir. */
function build(outDir: string): void {
  const work = mkdtempSync(join(tmpdir(), "cvw-proto-"));
  try {
    const deps = join(work, "deps.binpb");
    writeFileSync(deps, validateDescriptorSet());
    const image = join(outDir, "image.binpb");
    run("protoc", [
      `--descriptor_set_in=${deps}`,
      "--proto_path=.",
      "--include_imports",
      "--include_source_info",
      `--proto_path=${healthProtoRoot}`,
      `--descriptor_set_out=${image}`,
      ...protoFiles(join(root, "cvwallet")),
      // The standard health service rides along in the image (not in gen/ code) so the crypto
      // service's reflection can serve a faithful descriptor of it to grpcurl and buf curl.
      "health/v1/health.proto",
    ]);
    // The catalog's ids become plain protovalidate rules of the fields that hold them.
    const injected = injectCatalogRules(readFileSync(image));
    writeFileSync(image, injected.image);
    if (!check) say(`catalog rules: ${injected.fields.length} fields`);
    const template = join(work, "buf.gen.yaml");
    writeFileSync(template, readFileSync(join(root, "buf.gen.yaml"), "utf8").replace("out: gen", `out: ${outDir}`));
    run("buf", ["generate", image, "--template", template, "--path", "cvwallet"]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function which(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

if (!which("protoc")) {
  const hint = "install Debian's protobuf-compiler (apt-get install protobuf-compiler); .ci/run does";
  if (!check) fail(`protoc not found: ${hint}`);
  // Without protoc the sources cannot be recompiled, but the committed image still can be linted.
  say(`SKIPPED regeneration check and buf breaking: protoc not found (${hint})`);
  run("buf", ["lint", "gen/image.binpb", "--path", "cvwallet"]);
  say("buf lint (committed image): clean");
  process.exit(0);
}

if (!check) {
  rmSync(join(root, "gen"), { recursive: true, force: true });
  mkdirSync(join(root, "gen"));
  build(join(root, "gen"));
  say("generated gen/ from cvwallet/**/*.proto");
  process.exit(0);
}

// --check
const fresh = mkdtempSync(join(tmpdir(), "cvw-proto-check-"));
try {
  build(fresh);
  run("buf", ["lint", join(fresh, "image.binpb"), "--path", "cvwallet"]);
  say("buf lint (STANDARD): clean");
  const diff = spawnSync("diff", ["-r", "-q", fresh, join(root, "gen")], { encoding: "utf8" });
  if (diff.status !== 0) {
    fail(
      `gen/ is not what the .proto files generate; run 'npm run proto:generate' and commit:\n${diff.stdout}${diff.stderr}`,
    );
  }
  say("generated code matches the .proto files");
  breakingCheck(join(fresh, "image.binpb"));
} finally {
  rmSync(fresh, { recursive: true, force: true });
}

/**
 * buf breaking against the image of the previous commit (HEAD~1, or HEAD when proto/ has
 * uncommitted changes). A deliberate break passes when the commit says "BREAKING CHANGE".
 */
function breakingCheck(image: string): void {
  const git = (...args: string[]) => execFileSync("git", args, { cwd: root, encoding: "utf8" }).trim();
  let dirty: boolean;
  try {
    dirty = git("status", "--porcelain", "--", ".") !== "";
  } catch {
    say("SKIPPED buf breaking: not a git checkout");
    return;
  }
  const base = dirty ? "HEAD" : "HEAD~1";
  const against = mkdtempSync(join(tmpdir(), "cvw-proto-base-"));
  try {
    let baseImage: Buffer;
    try {
      baseImage = execFileSync("git", ["show", `${base}:proto/gen/image.binpb`], { cwd: root, maxBuffer: 64 << 20 });
    } catch {
      say(`SKIPPED buf breaking: ${base} has no proto/gen/image.binpb (the contracts are new)`);
      return;
    }
    writeFileSync(join(against, "image.binpb"), baseImage);
    // Only our contracts: the imported google/ and buf/ files are compiled from whatever
    // descriptors protoc and @bufbuild/protovalidate supply, which are not ours to keep stable.
    const args = [
      "breaking",
      image,
      "--against",
      join(against, "image.binpb"),
      "--path",
      "cvwallet",
      "--exclude-imports",
    ];
    const r = spawnSync("buf", args, {
      cwd: root,
      encoding: "utf8",
    });
    if (r.status === 0) {
      say(`buf breaking against ${base}: no breaking changes`);
      return;
    }
    const message = dirty ? "" : git("log", "-1", "--format=%B");
    if (message.includes("BREAKING CHANGE")) {
      say(`buf breaking against ${base}: breaking changes, declared deliberate by the commit:\n${r.stdout}`);
      return;
    }
    fail(
      `buf breaking against ${base} found changes that break clients (say "BREAKING CHANGE" in the commit if deliberate):\n${r.stdout}${r.stderr}`,
    );
  } finally {
    rmSync(against, { recursive: true, force: true });
  }
}
