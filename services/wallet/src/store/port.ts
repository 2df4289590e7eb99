// The store ports, owned by the domain (domain/ports/store.ts); adapters import them from here.
export type * from "../domain/ports/store.ts";
