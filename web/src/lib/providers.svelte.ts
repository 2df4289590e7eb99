// The provider registry (ListProviders), loaded once per page load and shared.
import type { Provider } from "@cv-wallet/proto/wallet/v1";
import { wallet } from "./api/client.ts";

class Providers {
  list = $state<Provider[]>([]);
  #loading: Promise<Provider[]> | undefined;

  load(): Promise<Provider[]> {
    this.#loading ??= wallet()
      .listProviders({})
      .then((res) => {
        this.list = res.providers;
        return res.providers;
      })
      .catch((err: unknown) => {
        this.#loading = undefined;
        throw err;
      });
    return this.#loading;
  }

  byId(id: string): Provider | undefined {
    return this.list.find((p) => p.id === id);
  }

  name(id: string): string {
    return this.byId(id)?.displayName ?? id;
  }
}

export const providers = new Providers();
