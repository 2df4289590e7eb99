// Rendering and validating the Kubernetes manifests: kustomize (through kubectl's built-in
// kustomize) renders an overlay; kubernetes-models (the Kubernetes OpenAPI schemas compiled to
// validators, plus the models of the Prometheus Operator's and cert-manager's custom resources)
// checks every object's values; their TypeScript interfaces, compiled with
// excess-property checks, catch misspelt or misplaced fields the schemas let through.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { parseAllDocuments } from "yaml";
import { deployDir, which } from "./paths.ts";

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: manifests are checked field by field in the tests
  spec?: any;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  [field: string]: any;
}

export const kubectl = which("kubectl");

export function parseYamlDocuments(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join("; "));
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/** `kubectl kustomize <dir>` parsed. */
export function render(dir: string): K8sObject[] {
  if (!kubectl) throw new Error("kubectl is not on PATH");
  const out = execFileSync(kubectl, ["kustomize", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return parseYamlDocuments(out);
}

/** Custom resources the manifests use, by API group: their models' packages. */
const crdModels: Record<string, string> = {
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
  "cert-manager.io": "@kubernetes-models/cert-manager",
};

function modelModule(apiVersion: string, kind: string): string {
  const group = apiVersion.includes("/") ? apiVersion.split("/")[0]! : "";
  const pkg = crdModels[group] ?? "kubernetes-models";
  return `${pkg}/${apiVersion}/${kind}`;
}

/** Schema errors per object ("Deployment/x: data/spec/replicas must be integer"); empty when valid. */
export async function schemaErrors(objects: K8sObject[]): Promise<string[]> {
  const errors: string[] = [];
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata?.name}`;
    let Model: new (data: unknown) => { validate(): void };
    try {
      const mod = (await import(modelModule(o.apiVersion, o.kind))) as Record<string, typeof Model>;
      Model = mod[o.kind]!;
    } catch {
      errors.push(`${id}: ${o.apiVersion} ${o.kind} is not a known Kubernetes API type`);
      continue;
    }
    try {
      new Model(o).validate();
    } catch (error) {
      errors.push(`${id}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return errors;
}

/**
 * Compiles every object as an object literal typed by its kubernetes-models interface, so
 * TypeScript's excess-property check reports any field the API does not have
 * (e.g. `readinesProbe`). Returns the diagnostics, empty when all fields exist.
 */
export function unknownFieldErrors(name: string, objects: K8sObject[]): string[] {
  const dir = join(deployDir, ".reports", "k8s-strict");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.ts`);
  const lines: string[] = [];
  objects.forEach((o, i) => {
    lines.push(`import type { I${o.kind} as T${i} } from "${modelModule(o.apiVersion, o.kind)}";`);
  });
  objects.forEach((o, i) => {
    lines.push(`// ${o.kind}/${o.metadata.name}`);
    lines.push(`export const o${i}: T${i} = ${JSON.stringify(o, null, 2)};`);
  });
  writeFileSync(file, `${lines.join("\n")}\n`);
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file && d.start !== undefined ? `${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : "";
    return `${name}.ts:${where}${ts.flattenDiagnosticMessageText(d.messageText, " ")}`;
  });
}
