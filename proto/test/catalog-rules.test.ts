// The build step that writes the catalog's rules into the image: it reproduces the committed
// rules from the marks alone, and refuses the two ways a list could be written twice or drift.
import { clearExtension, fromBinary, getExtension, hasExtension, setExtension, toBinary } from "@bufbuild/protobuf";
import { type DescriptorProto, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { field as fieldRules } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { describe, expect, it } from "vitest";
import { holds, string_id } from "../gen/cvwallet/wallet/v1/catalog_pb.js";
import { injectCatalogRules } from "../scripts/catalog-rules.ts";
import { readImage } from "../src/image.ts";

type Image = ReturnType<typeof fromBinary<typeof FileDescriptorSetSchema>>;

function allMessages(image: Image): DescriptorProto[] {
  const out: DescriptorProto[] = [];
  const visit = (m: DescriptorProto) => {
    out.push(m);
    m.nestedType.forEach(visit);
  };
  for (const f of image.file) f.messageType.forEach(visit);
  return out;
}

/** The committed image with the generated rules taken off again: what protoc hands the build. */
function unruled(): Image {
  const image = fromBinary(FileDescriptorSetSchema, readImage());
  for (const m of allMessages(image)) {
    for (const f of m.field) {
      if (!f.options || !hasExtension(f.options, holds)) continue;
      // Record id fields carry no rule but the pattern; catalog fields may have others (min_items).
      if (getExtension(f.options, holds).kind.case === "recordId") {
        clearExtension(f.options, fieldRules);
        continue;
      }
      const rules = getExtension(f.options, fieldRules);
      if (rules.type.case === "string") rules.type.value.in = [];
      else if (rules.type.case === "repeated" && rules.type.value.items?.type.case === "string") {
        rules.type.value.items.type.value.in = [];
      }
      setExtension(f.options, fieldRules, rules);
    }
  }
  return image;
}

function rulesOf(image: Image): string[] {
  const out: string[] = [];
  for (const m of allMessages(image)) {
    for (const f of m.field) {
      if (!f.options || !hasExtension(f.options, holds)) continue;
      const rules = getExtension(f.options, fieldRules);
      const s =
        rules.type.case === "string"
          ? rules.type.value
          : rules.type.case === "repeated" && rules.type.value.items?.type.case === "string"
            ? rules.type.value.items.type.value
            : undefined;
      out.push(`${m.name}.${f.name} in=${s?.in.join(",") ?? ""} pattern=${s?.pattern ?? ""}`);
    }
  }
  return out;
}

describe("catalog rules in the image", () => {
  it("are rebuilt from the marks alone, as committed", () => {
    const committed = fromBinary(FileDescriptorSetSchema, readImage());
    const stripped = unruled();
    expect(rulesOf(stripped).every((r) => r.endsWith("in= pattern="))).toBe(true);
    const rebuilt = injectCatalogRules(toBinary(FileDescriptorSetSchema, stripped));
    // Every marked field gets its rule (the count grows as the contract does).
    expect(rebuilt.fields).toHaveLength(rulesOf(stripped).length);
    expect(rebuilt.fields.length).toBeGreaterThanOrEqual(25);
    expect(rulesOf(fromBinary(FileDescriptorSetSchema, rebuilt.image))).toEqual(rulesOf(committed));
  });

  it("refuses a rule also written by hand on a marked field", () => {
    // The committed image already holds the rules: building on it again is writing them twice.
    expect(() => injectCatalogRules(readImage())).toThrow(/User\.id: a record id takes record_id_pattern/);
    const image = unruled();
    const request = allMessages(image).find((m) => m.name === "CreateKeyRequest")!;
    const provider = request.field.find((f) => f.name === "provider")!;
    const rules = getExtension(provider.options!, fieldRules);
    if (rules.type.case !== "string") throw new Error("CreateKeyRequest.provider has no string rules");
    rules.type.value.in = ["openai", "anthropic"];
    setExtension(provider.options!, fieldRules, rules);
    expect(() => injectCatalogRules(toBinary(FileDescriptorSetSchema, image))).toThrow(
      /CreateKeyRequest\.provider: write the ids on the enum, not in string\.in/,
    );
  });

  it("refuses a string id its value's name does not imply", () => {
    const image = unruled();
    const catalog = image.file.find((f) => f.name === "cvwallet/wallet/v1/catalog.proto")!;
    const openai = catalog.enumType.find((e) => e.name === "ProviderKind")!.value[1]!;
    setExtension(openai.options!, string_id, "open-ai");
    expect(() => injectCatalogRules(toBinary(FileDescriptorSetSchema, image))).toThrow(
      /PROVIDER_KIND_OPENAI: \(string_id\) "open-ai" must be "openai"/,
    );
  });
});
