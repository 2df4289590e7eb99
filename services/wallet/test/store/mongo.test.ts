// The same contract on a real MongoDB when one is reachable (MONGODB_URI, a local mongod,
// or testcontainers); otherwise the skip is printed with its reason.

import { captureLogs } from "@cv-wallet/common/testing/logs";
import { type MongoForTests, mongoForTests } from "@cv-wallet/common/testing/mongo";
import { afterAll, beforeAll } from "vitest";
import { openMongoStore } from "../../src/store/mongo/mongo-store.ts";
import { storeContract } from "./contract.ts";

let mongo: MongoForTests | undefined;
beforeAll(async () => {
  mongo = await mongoForTests("wallet store contract (MongoDB)");
});
afterAll(async () => {
  await mongo?.stop();
});

storeContract("mongodb", async () => (mongo ? openMongoStore(mongo.uri, captureLogs().logger) : undefined));
