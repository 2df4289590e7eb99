// Writes the protovalidate rules of fields marked `(cvwallet.wallet.v1.holds)` into a compiled
// image, from the catalog enums of catalog.proto: `string.in` with the enum's string ids for
// `(holds).catalog`, `string.pattern` = the file's `record_id_pattern` for `(holds).record_id`.
// The lists of ids are thus written once (on the enum), yet the image and the code generated
// from it carry plain protovalidate rules that any validator, in any language, enforces with
// no extension registry. It also refuses a catalog whose string ids break the naming rule
// typed clients derive them by (see catalog.proto).
import {
  create,
  createFileRegistry,
  type DescEnum,
  type DescExtension,
  fromBinary,
  getExtension,
  getOption,
  hasExtension,
  hasOption,
  setExtension,
  toBinary,
} from "@bufbuild/protobuf";
import {
  type DescriptorProto,
  type FieldDescriptorProto,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";
import {
  FieldRulesSchema,
  field as fieldRules,
  RepeatedRulesSchema,
  StringRulesSchema,
} from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";

const PKG = "cvwallet.wallet.v1";
const CATALOG_FILE = "cvwallet/wallet/v1/catalog.proto";

/** The string id a catalog value's name implies: KEY_VALIDATION_STATUS_RATE_LIMITED → rate_limited. */
export function impliedStringId(enumDesc: DescEnum, valueName: string): string {
  const id = valueName.slice(enumDesc.sharedPrefix ? enumDesc.sharedPrefix.length : 0).toLowerCase();
  return enumDesc.typeName === `${PKG}.TokenScope` ? id.replace("_", ":") : id;
}

export interface InjectResult {
  image: Uint8Array;
  /** "<message>.<field> ← <rule>", for the build log and tests. */
  fields: string[];
}

export function injectCatalogRules(imageBytes: Uint8Array): InjectResult {
  const set = fromBinary(FileDescriptorSetSchema, imageBytes);
  const registry = createFileRegistry(set);
  const ext = (name: string): DescExtension => {
    const e = registry.getExtension(`${PKG}.${name}`);
    if (!e) throw new Error(`${CATALOG_FILE} must define the extension ${PKG}.${name}`);
    return e;
  };
  const holdsExt = ext("holds");
  const stringIdExt = ext("string_id");
  const recordIdPatternExt = ext("record_id_pattern");
  const catalogFile = registry.getFile(CATALOG_FILE);
  if (!catalogFile || !hasOption(catalogFile, recordIdPatternExt)) {
    throw new Error(`${CATALOG_FILE} must set option (record_id_pattern)`);
  }
  const recordIdPattern = getOption(catalogFile, recordIdPatternExt) as string;

  const idsCache = new Map<string, string[]>();
  const catalogIds = (enumName: string, where: string): string[] => {
    const cached = idsCache.get(enumName);
    if (cached) return cached;
    const e = registry.getEnum(enumName);
    if (!e) throw new Error(`${where}: (holds).catalog names ${enumName}, which is not an enum`);
    const ids: string[] = [];
    for (const v of e.values) {
      if (v.number === 0) continue;
      if (!hasOption(v, stringIdExt)) throw new Error(`${v.name} has no (string_id)`);
      const id = getOption(v, stringIdExt) as string;
      const implied = impliedStringId(e, v.name);
      if (id !== implied) throw new Error(`${v.name}: (string_id) "${id}" must be "${implied}", as its name implies`);
      ids.push(id);
    }
    if (ids.length === 0) throw new Error(`${enumName} has no values besides the zero value`);
    idsCache.set(enumName, ids);
    return ids;
  };

  const done: string[] = [];
  const visit = (typeName: string, message: DescriptorProto) => {
    for (const nested of message.nestedType) visit(`${typeName}.${nested.name}`, nested);
    for (const f of message.field) rewriteField(`${typeName}.${f.name}`, f);
  };
  const rewriteField = (where: string, f: FieldDescriptorProto) => {
    if (!f.options || !hasExtension(f.options, holdsExt)) return;
    if (f.type !== FieldDescriptorProto_Type.STRING) throw new Error(`${where}: (holds) is for string fields`);
    // A dynamic message of the registry's Holds type.
    const holds = getExtension(f.options, holdsExt) as unknown as { kind: { case?: string; value?: unknown } };
    const rules = hasExtension(f.options, fieldRules) ? getExtension(f.options, fieldRules) : create(FieldRulesSchema);
    const repeated = f.label === FieldDescriptorProto_Label.REPEATED;
    let holder = rules;
    if (repeated) {
      if (rules.type.case === undefined) rules.type = { case: "repeated", value: create(RepeatedRulesSchema) };
      if (rules.type.case !== "repeated") throw new Error(`${where}: unexpected ${rules.type.case} rules`);
      rules.type.value.items ??= create(FieldRulesSchema);
      holder = rules.type.value.items;
    }
    if (holder.type.case === undefined) holder.type = { case: "string", value: create(StringRulesSchema) };
    if (holder.type.case !== "string") throw new Error(`${where}: unexpected ${holder.type.case} rules`);
    const stringRules = holder.type.value;
    let rule: string;
    if (holds.kind.case === "catalog") {
      if (stringRules.in.length > 0) throw new Error(`${where}: write the ids on the enum, not in string.in`);
      stringRules.in = catalogIds(String(holds.kind.value), where);
      rule = `string.in from ${String(holds.kind.value)}`;
    } else if (holds.kind.case === "recordId" && holds.kind.value === true) {
      if (stringRules.pattern) throw new Error(`${where}: a record id takes record_id_pattern`);
      stringRules.pattern = recordIdPattern;
      rule = "string.pattern = record_id_pattern";
    } else {
      throw new Error(`${where}: (holds) says neither catalog nor record_id`);
    }
    setExtension(f.options, fieldRules, rules);
    done.push(`${where} ← ${rule}`);
  };
  for (const file of set.file) {
    for (const m of file.messageType) visit(file.package ? `${file.package}.${m.name}` : m.name, m);
  }
  return { image: toBinary(FileDescriptorSetSchema, set), fields: done };
}
