// Finds a real MongoDB for the suites that need one, in this order:
//   1. MONGODB_URI (CI's service container, a developer's server, Atlas, or the FerretDB that
//      `scripts/test-servers.sh up` started: CVW_TEST_MONGODB then names it);
//   2. mongodb-memory-server with a mongod binary already on the machine
//      (MONGOMS_SYSTEM_BINARY or `mongod` on PATH; nothing is downloaded);
//   3. testcontainers, when a container engine answers.
// With none of them it returns undefined and reports the skip. MongoDB is never faked.
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { reportDifference, reportServer } from "./servers.ts";
import { reportSkip } from "./skips.ts";

export interface MongoForTests {
  /** A connection string to a database of its own. */
  uri: string;
  /** Where it came from, for the test log. */
  source: string;
  /** True when the server is FerretDB (asked with buildInfo), not MongoDB. */
  ferretdb: boolean;
  stop(): Promise<void>;
}

export async function mongoForTests(suite: string): Promise<MongoForTests | undefined> {
  const found = await findMongo(suite);
  if (!found) return undefined;
  const ferretdb = await isFerretDB(found.uri);
  reportServer(suite, `MongoDB: ${found.source}${ferretdb && !/ferretdb/i.test(found.source) ? " (FerretDB)" : ""}`);
  return { ...found, ferretdb };
}

/**
 * Names a FerretDB difference in the suite's output (and in `npm test`'s summary) when the
 * server is FerretDB; true then, so the caller can leave out the one assertion that needs MongoDB.
 */
export function differsOnFerretDB(mongo: MongoForTests, suite: string, difference: string): boolean {
  if (mongo.ferretdb) reportDifference(suite, `FerretDB: ${difference}`);
  return mongo.ferretdb;
}

async function isFerretDB(uri: string): Promise<boolean> {
  const { MongoClient } = await import("mongodb");
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
  try {
    const info = await client.db("admin").command({ buildInfo: 1 });
    return "ferretdbVersion" in info || "ferretdbFeatures" in info;
  } finally {
    await client.close();
  }
}

async function findMongo(suite: string): Promise<Omit<MongoForTests, "ferretdb"> | undefined> {
  const fromEnv = process.env.MONGODB_URI;
  if (fromEnv) {
    return { uri: withDatabase(fromEnv), source: process.env.CVW_TEST_MONGODB ?? "MONGODB_URI", stop: async () => {} };
  }
  if (process.env.CVW_TEST_MONGODB_SKIP) {
    reportSkip(suite, process.env.CVW_TEST_MONGODB_SKIP);
    return undefined;
  }

  const binary = process.env.MONGOMS_SYSTEM_BINARY ?? which("mongod");
  if (binary) {
    const { MongoMemoryReplSet } = await import("mongodb-memory-server-core");
    const server = await MongoMemoryReplSet.create({ binary: { systemBinary: binary }, replSet: { count: 1 } });
    return {
      uri: withDatabase(server.getUri()),
      source: `mongod at ${binary}`,
      stop: async () => void (await server.stop()),
    };
  }

  const engine = await containerEngine();
  if (engine === true) {
    const { MongoDBContainer } = await import("@testcontainers/mongodb");
    const container = await new MongoDBContainer("mongo:8").start();
    return {
      uri: withDatabase(`${container.getConnectionString()}/?directConnection=true`),
      source: "testcontainers mongo:8",
      stop: async () => void (await container.stop()),
    };
  }
  reportSkip(
    suite,
    `no MongoDB here: MONGODB_URI is not set, no mongod binary on PATH, and no container engine (${engine}). ` +
      "The GitHub workflow runs it against a MongoDB service.",
  );
  return undefined;
}

/** True when testcontainers finds a container engine, else the reason it gave. */
export async function containerEngine(): Promise<true | string> {
  try {
    const { getContainerRuntimeClient } = await import("testcontainers");
    await getContainerRuntimeClient();
    return true;
  } catch (error) {
    return error instanceof Error ? error.message.split("\n")[0]! : String(error);
  }
}

function withDatabase(uri: string): string {
  const url = new URL(uri);
  url.pathname = `/cvw_test_${randomUUID().slice(0, 8)}`;
  return url.toString();
}

function which(command: string): string | undefined {
  try {
    return execFileSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}
