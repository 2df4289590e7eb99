// Record ids: 24 hex characters laid out like a MongoDB ObjectId (seconds, random, counter),
// so they sort roughly by creation and work as _id and as a SQLite key alike.
import { randomBytes, randomInt } from "node:crypto";
import { invalidArgument } from "@cv-wallet/common/errors";
import { RECORD_ID_PATTERN } from "@cv-wallet/proto/catalog";

const processRandom = randomBytes(5).toString("hex");
let counter = randomInt(0, 0xffffff);

export function newId(): string {
  counter = (counter + 1) % 0x1000000;
  const seconds = Math.floor(Date.now() / 1000)
    .toString(16)
    .padStart(8, "0");
  return `${seconds}${processRandom}${counter.toString(16).padStart(6, "0")}`;
}

// The contract's record id rule (proto's catalog), so ids the wallet issues and the API's
// validation agree.
const ID = RECORD_ID_PATTERN;

/** Refuses an id this service cannot have issued before any store lookup. */
export function assertId(id: string, what = "id"): string {
  if (!ID.test(id)) throw invalidArgument(`${what} is not a valid id`);
  return id;
}
