// Who is signed in. The session itself is an HttpOnly cookie the browser never reads; this
// only remembers what GetCurrentUser answered.
import type { User } from "@cv-wallet/proto/wallet/v1";
import { goto } from "$app/navigation";
import { wallet } from "./api/client.ts";
import { errorMessage, isUnauthenticated } from "./api/errors.ts";

class Session {
  user = $state<User | undefined>(undefined);
  /** True once the first GetCurrentUser has answered (either way). */
  ready = $state(false);

  async refresh(): Promise<void> {
    try {
      const res = await wallet().getCurrentUser({});
      this.user = res.user;
    } catch (err) {
      if (!isUnauthenticated(err)) console.warn("could not load the current user");
      this.user = undefined;
    } finally {
      this.ready = true;
    }
  }

  signedIn(user: User | undefined): void {
    this.user = user;
    this.ready = true;
  }

  signedOut(): void {
    this.user = undefined;
  }
}

export const session = new Session();

/** Routes anyone may see; every other route sends a signed-out visitor to /signin. */
export const PUBLIC_ROUTES = ["/signin", "/signup"];

/**
 * What a page shows when loading failed: a lapsed session forgets the user and goes to
 * /signin (answering ""), anything else becomes a sentence for the page.
 */
export async function loadFailed(err: unknown): Promise<string> {
  if (!isUnauthenticated(err)) return errorMessage(err);
  session.signedOut();
  await goto("/signin");
  return "";
}
