// Shapes as the MongoDB driver throws them (name, server code, labels); common does not depend
// on the driver, so neither does this test.
import { describe, expect, it } from "vitest";
import { isMongoUnavailable } from "../src/mongo-errors.ts";

const driverError = (name: string, extra: { code?: number; labels?: string[] } = {}) =>
  Object.assign(new Error(name), {
    name,
    code: extra.code,
    hasErrorLabel: (label: string) => (extra.labels ?? []).includes(label),
  });

describe("isMongoUnavailable", () => {
  it("recognises a database that cannot serve now", () => {
    expect(isMongoUnavailable(driverError("MongoNetworkError"))).toBe(true);
    expect(isMongoUnavailable(driverError("MongoServerSelectionError"))).toBe(true);
    expect(isMongoUnavailable(driverError("MongoServerError", { code: 10107 }))).toBe(true); // not primary
    expect(isMongoUnavailable(driverError("MongoServerError", { code: 14031 }))).toBe(true); // out of disk
    expect(isMongoUnavailable(driverError("MongoServerError", { labels: ["RetryableWriteError"] }))).toBe(true);
  });

  it("leaves request and code faults alone", () => {
    expect(isMongoUnavailable(driverError("MongoServerError", { code: 11000 }))).toBe(false); // duplicate key
    expect(isMongoUnavailable(driverError("MongoServerError", { code: 121 }))).toBe(false); // validation
    expect(isMongoUnavailable(new TypeError("x"))).toBe(false);
    expect(isMongoUnavailable(undefined)).toBe(false);
  });
});
