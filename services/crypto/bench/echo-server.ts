// The transport baseline: a grpc-js service that answers a fixed payload with no decoding,
// no auth and no work. Run as its own process, like the crypto service, by the benchmark.
import * as grpc from "@grpc/grpc-js";

const response = Buffer.from(process.argv[2] ?? "", "base64");
const identity = (b: Buffer) => b;
const server = new grpc.Server();
server.addService(
  {
    echo: {
      path: "/bench.Echo/Echo",
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  },
  { echo: (_call: unknown, callback: (error: null, value: Buffer) => void) => callback(null, response) },
);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  console.log(JSON.stringify({ msg: "echo listening", address: `127.0.0.1:${port}` }));
});
process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
