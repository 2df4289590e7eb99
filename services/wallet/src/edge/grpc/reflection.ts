// gRPC server reflection (grpc.reflection.v1 and v1alpha) for the wallet's HTTP/2 listener, so
// `grpcurl -plaintext ADDR list|describe` and calls work without --schema, as on the crypto
// service. That one uses @grpc/reflection, which plugs into a grpc-js server only; the wallet
// serves gRPC with Connect on node:http2, so the same protocol is answered here as a Connect
// service. Descriptors come from the committed image (@cv-wallet/proto/image) as protoc wrote
// them, and the reflection service's own from its generated code (gen/, made with
// `protoc --es_out=… -I node_modules/@grpc/reflection/build/proto grpc/reflection/{v1,v1alpha}/reflection.proto`).
import {
  createFileRegistry,
  type DescFile,
  type DescService,
  type FileRegistry,
  fromBinary,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import { readImage } from "@cv-wallet/proto/image";
import {
  file_grpc_reflection_v1_reflection,
  ServerReflection,
  type ServerReflectionRequest,
  type ServerReflectionResponseSchema,
} from "./gen/grpc/reflection/v1/reflection_pb.js";
import {
  file_grpc_reflection_v1alpha_reflection,
  ServerReflection as ServerReflectionV1Alpha,
} from "./gen/grpc/reflection/v1alpha/reflection_pb.js";

type Response = MessageInitShape<typeof ServerReflectionResponseSchema>;

/** The image's descriptors plus the reflection service's own. */
export function descriptorRegistry(): FileRegistry {
  const image = createFileRegistry(fromBinary(FileDescriptorSetSchema, readImage()));
  const own = [file_grpc_reflection_v1_reflection, file_grpc_reflection_v1alpha_reflection].map((f) =>
    createFileRegistry(f.proto, () => undefined),
  );
  return createFileRegistry(image, ...own);
}

/**
 * Registers both reflection versions, answering for `services` (full names) and for the files
 * they need only: the image also holds the crypto service's contract, which is not the wallet's to show.
 */
export function reflectionRoutes(registry: FileRegistry, services: string[]): (router: ConnectRouter) => void {
  const listed = [...services, ServerReflection.typeName, ServerReflectionV1Alpha.typeName];
  const shown = new Set<string>();
  const show = (file: DescFile) => {
    if (shown.has(file.name)) return;
    shown.add(file.name);
    for (const dep of file.dependencies) show(dep);
  };
  for (const name of listed) {
    const service = registry.getService(name);
    if (!service) throw new Error(`reflection: ${name} is not in the descriptor image`);
    show(service.file);
  }

  /** The asked file (always) and the files it imports that this stream has not sent yet. */
  const withDependencies = (file: DescFile, sent: Set<string>): Uint8Array[] => {
    const out: Uint8Array[] = [];
    const visit = (f: DescFile) => {
      if (sent.has(f.name) && f !== file) return;
      sent.add(f.name);
      out.push(toBinary(FileDescriptorProtoSchema, f.proto));
      for (const dep of f.dependencies) visit(dep);
    };
    visit(file);
    return out;
  };

  const fileOfSymbol = (symbol: string): DescFile | undefined => {
    const found = registry.get(symbol);
    if (found) return "file" in found ? found.file : undefined;
    // A method or field: Service.Method, Message.field.
    const parent = registry.get(symbol.slice(0, symbol.lastIndexOf(".")));
    if (parent?.kind === "service" && parent.methods.some((m) => `${parent.typeName}.${m.name}` === symbol)) {
      return parent.file;
    }
    if (parent?.kind === "message" && parent.fields.some((f) => `${parent.typeName}.${f.name}` === symbol)) {
      return parent.file;
    }
    return undefined;
  };

  function answer(req: ServerReflectionRequest, sent: Set<string>): Response {
    const notFound = (what: string): Response => ({
      messageResponse: {
        case: "errorResponse",
        value: { errorCode: Code.NotFound, errorMessage: `${what} not found` },
      },
    });
    const files = (file: DescFile | undefined, what: string): Response =>
      file && shown.has(file.name)
        ? {
            messageResponse: {
              case: "fileDescriptorResponse",
              value: { fileDescriptorProto: withDependencies(file, sent) },
            },
          }
        : notFound(what);
    const r = req.messageRequest;
    switch (r.case) {
      case "listServices":
        return {
          messageResponse: { case: "listServicesResponse", value: { service: listed.map((name) => ({ name })) } },
        };
      case "fileByFilename":
        return files(registry.getFile(r.value), `file ${r.value}`);
      case "fileContainingSymbol":
        return files(fileOfSymbol(r.value), `symbol ${r.value}`);
      case "fileContainingExtension": {
        const message = registry.getMessage(r.value.containingType);
        const extension = message ? registry.getExtensionFor(message, r.value.extensionNumber) : undefined;
        return files(extension?.file, `extension ${r.value.extensionNumber} of ${r.value.containingType}`);
      }
      case "allExtensionNumbersOfType": {
        const message = registry.getMessage(r.value);
        if (!message || !shown.has(message.file.name)) return notFound(`type ${r.value}`);
        const numbers: number[] = [];
        for (const type of registry) {
          if (type.kind === "extension" && type.extendee.typeName === message.typeName) numbers.push(type.number);
        }
        return {
          messageResponse: {
            case: "allExtensionNumbersResponse",
            value: { baseTypeName: message.typeName, extensionNumber: numbers.sort((a, b) => a - b) },
          },
        };
      }
      default:
        return {
          messageResponse: {
            case: "errorResponse",
            value: { errorCode: Code.InvalidArgument, errorMessage: "unknown reflection request" },
          },
        };
    }
  }

  // One stream, many requests: dependencies go out once per stream, as grpc-go's reflection does.
  async function* serverReflectionInfo(requests: AsyncIterable<ServerReflectionRequest>) {
    const sent = new Set<string>();
    for await (const req of requests) {
      yield { validHost: req.host, originalRequest: req, ...answer(req, sent) };
    }
  }

  return (router) => {
    router.service(ServerReflection, { serverReflectionInfo });
    // v1alpha has the same messages under another package (older grpcurl and tools ask it).
    router.service(ServerReflectionV1Alpha, {
      serverReflectionInfo,
    } as unknown as ServiceImpl<typeof ServerReflectionV1Alpha>);
  };
}

/** The DescService of a full name in the registry (health, from the image). */
export function serviceFrom(registry: FileRegistry, name: string): DescService {
  const service = registry.getService(name);
  if (!service) throw new Error(`${name} is not in the descriptor image`);
  return service;
}
