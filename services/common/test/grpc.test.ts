// The adapter between grpc-js and protobuf-es, exercised over a real loopback server: a
// small CryptoService whose GetKeyInfo answers, throws an AppError or crashes on request.
import { create, toBinary } from "@bufbuild/protobuf";
import { CryptoService, GetKeyInfoRequestSchema } from "@cv-wallet/proto/crypto/v1";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError, unauthenticated } from "../src/errors.ts";
import { addService, createClient, grpcPath, type UnaryServiceImpl } from "../src/grpc.ts";
import { captureLogs } from "../src/testing/logs.ts";

const logs = captureLogs();
const server = new grpc.Server();
const ended: { method: string; code: grpc.status }[] = [];
let channel: grpc.Client;
let client: ReturnType<typeof createClient<typeof CryptoService>>;
const auth = (token: string) => {
  const m = new grpc.Metadata();
  m.set("authorization", `Bearer ${token}`);
  return m;
};

const notImplemented = async () => {
  throw new AppError("failed_precondition", "not part of this test");
};
const impl = Object.fromEntries(
  CryptoService.methods.map((m) => [m.localName, notImplemented]),
) as unknown as UnaryServiceImpl<typeof CryptoService>;
impl.getKeyInfo = async (request) => {
  if (request.keyName === "missing") throw new AppError("not_found", "no key named missing");
  if (request.keyName === "crash") throw new Error("database password is hunter2");
  return { key: { name: request.keyName, latestVersion: 3 } };
};

beforeAll(async () => {
  addService(server, CryptoService, impl, {
    logger: logs.logger,
    authorize: (call) => {
      if (call.metadata.get("authorization")[0] !== "Bearer right") throw unauthenticated("a bearer token is required");
    },
    onCallEnd: (method, code) => ended.push({ method, code }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  channel = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  client = createClient(CryptoService, channel);
});

afterAll(() => {
  channel.close();
  server.forceShutdown();
});

describe("grpc adapter", () => {
  it("decodes the request, runs the handler and encodes the response", async () => {
    const response = await client.getKeyInfo({ keyName: "user/42" }, { metadata: auth("right"), timeoutMs: 5000 });
    expect(response.key?.name).toBe("user/42");
    expect(response.key?.latestVersion).toBe(3);
    expect(ended.at(-1)).toEqual({ method: "cvwallet.crypto.v1.CryptoService/GetKeyInfo", code: grpc.status.OK });
  });

  it("refuses a call the authorize hook rejects, before the handler runs", async () => {
    await expect(client.getKeyInfo({ keyName: "user/42" }, { metadata: auth("wrong") })).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      details: "a bearer token is required",
    });
  });

  it("answers INVALID_ARGUMENT naming the field when a protovalidate rule fails", async () => {
    await expect(client.getKeyInfo({ keyName: "../etc" }, { metadata: auth("right") })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringMatching(/^key_name: /),
    });
  });

  it("answers INVALID_ARGUMENT, not INTERNAL, for bytes that are not the request message", async () => {
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    const error = await new Promise<grpc.ServiceError>((resolve) => {
      channel.makeUnaryRequest(
        grpcPath(CryptoService.method.getKeyInfo),
        (b: Buffer) => b,
        (b: Buffer) => b,
        garbage,
        auth("right"),
        {},
        (e) => resolve(e!),
      );
    });
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toContain("cvwallet.crypto.v1.GetKeyInfoRequest");
    // A well-formed request through the same raw path works, so the garbage was the cause.
    expect(toBinary(GetKeyInfoRequestSchema, create(GetKeyInfoRequestSchema, { keyName: "k" })).length).toBeGreaterThan(
      0,
    );
  });

  it("maps an AppError to its status and message", async () => {
    await expect(client.getKeyInfo({ keyName: "missing" }, { metadata: auth("right") })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
      details: "no key named missing",
    });
  });

  it("hides an unexpected error's message from the caller and logs it", async () => {
    const error = await client.getKeyInfo({ keyName: "crash" }, { metadata: auth("right") }).catch((e) => e);
    expect(error).toMatchObject({ code: grpc.status.INTERNAL, details: "internal error" });
    expect(logs.text()).toContain("unexpected error in gRPC handler");
  });
});
