// Server reflection from the committed descriptor image (which carries the health service
// too), so no .proto is parsed at run time. The image's FileDescriptorProtos are served as
// protoc wrote them: proto-loader's re-encoding drops imports and leaves type names relative,
// and grpcurl / buf curl then cannot link what they receive.
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { readImage } from "@cv-wallet/proto/image";
import type { PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";

export function reflection(services: readonly string[]): ReflectionService {
  const image = fromBinary(FileDescriptorSetSchema, readImage());
  const fileDescriptorProtos = image.file.map((file) => toBinary(FileDescriptorProtoSchema, file));
  // ReflectionService only reads `fileDescriptorProtos` from each entry of its package definition.
  const definition = { image: { fileDescriptorProtos } } as unknown as PackageDefinition;
  return new ReflectionService(definition, { services: [...services] });
}
