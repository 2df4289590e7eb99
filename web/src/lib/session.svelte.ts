// Who is signed in. The session itself is an HttpOnly cookie the browser never reads; this
// only remembers what GetCurrentUser answered.
import type { User } from "@cv-wallet/proto/wallet/v1";
import { wallet } from "./api/client.ts";
import { isUnauthenticated } from "./api/errors.ts";

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
