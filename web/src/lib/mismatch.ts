// Which saved keys look like another provider's. The wallet works it out from the plaintext
// when the key is saved and keeps only the answer (ApiKey.prefixProvider), so every browser
// shows the same hint and no part of the key is kept here.
import type { ApiKey } from "@cv-wallet/proto/wallet/v1";

/** What this browser noted before the wallet kept the hint itself; no longer read. */
const OLD_STORAGE = "cvw.prefix-mismatch.v1";
try {
  globalThis.localStorage?.removeItem(OLD_STORAGE);
} catch {
  // Storage may be unavailable (private mode); there is then nothing to remove.
}

/** The provider key's prefix belongs to when it is not the one it is saved under. */
export function noteFor(key: Pick<ApiKey, "provider" | "prefixProvider">): string | undefined {
  return key.prefixProvider && key.prefixProvider !== key.provider ? key.prefixProvider : undefined;
}
