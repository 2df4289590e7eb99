// protovalidate at the edges: one message listing every violated rule, as invalid_argument.
// No transport is imported here, so the REST edge can use it without loading grpc-js.
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import type { Validator } from "@bufbuild/protovalidate";
import { invalidArgument } from "./errors.ts";

/** Throws invalid_argument listing every violated rule ("field: message; …"). */
export function assertValid(validator: Validator, schema: DescMessage, message: MessageShape<DescMessage>): void {
  const result = validator.validate(schema, message);
  if (result.kind === "valid") return;
  if (result.kind === "invalid") {
    const detail = result.violations.map((v) => `${pathToString(v.field) || "request"}: ${v.message}`).join("; ");
    throw invalidArgument(detail);
  }
  throw result.error;
}
