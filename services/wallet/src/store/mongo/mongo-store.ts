import type { Logger } from "@cv-wallet/common/logger";
import type { Store } from "../ports.ts";

export async function openMongoStore(_uri: string, _logger: Logger): Promise<Store> {
  throw new Error("not yet");
}
