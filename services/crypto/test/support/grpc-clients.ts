// Clients for the standard services (health, reflection), built from their published
// .proto files the way grpcurl would see them: nothing from this project's code.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";

const require = createRequire(import.meta.url);
const reflectionProto = join(
  dirname(require.resolve("@grpc/reflection/package.json")),
  "build/proto/grpc/reflection/v1/reflection.proto",
);

type AnyClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

function clientFor(file: string, service: string, address: string): AnyClient {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(file, { keepCase: true, enums: String }));
  const Ctor = service
    .split(".")
    .reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], pkg) as grpc.ServiceClientConstructor;
  return new Ctor(address, grpc.credentials.createInsecure()) as unknown as AnyClient;
}

export function healthClient(address: string) {
  const client = clientFor(healthProtoPath, "grpc.health.v1.Health", address);
  return {
    check: (service: string) =>
      new Promise<string>((resolve, reject) =>
        client.Check!(
          { service },
          { deadline: Date.now() + 5000 },
          (err: grpc.ServiceError | null, res: { status: string }) => (err ? reject(err) : resolve(res.status)),
        ),
      ),
    /** Streams statuses for `service` into the returned array. */
    watch: (service: string) => {
      const seen: string[] = [];
      const call = client.Watch!({ service }) as grpc.ClientReadableStream<{ status: string }>;
      call.on("data", (m) => seen.push(m.status));
      call.on("error", () => {});
      return { seen, cancel: () => call.cancel() };
    },
    close: () => client.close(),
  };
}

export interface ReflectionAnswer {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

/** One request on the v1 reflection stream, as grpcurl sends it. */
export function reflect(address: string, request: Record<string, string>): Promise<ReflectionAnswer> {
  const client = clientFor(reflectionProto, "grpc.reflection.v1.ServerReflection", address);
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo!() as grpc.ClientDuplexStream<unknown, ReflectionAnswer>;
    call.on("data", (answer: ReflectionAnswer) => {
      resolve(answer);
      call.end();
      client.close();
    });
    call.on("error", reject);
    call.write(request);
  });
}
