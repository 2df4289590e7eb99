export * from "./config.ts";
export * from "./errors.ts";
export * from "./grpc.ts";
export * from "./logger.ts";
export * from "./secrets.ts";
export * from "./shutdown.ts";
export * from "./sqlite.ts";
