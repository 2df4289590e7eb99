// grpc.health.v1 for the whole server ("") and for CryptoService: NOT_SERVING until the store
// and the key-encryption key answer, and again while stopping or while the store cannot write.
import { HealthImplementation } from "grpc-health-check";

export const HEALTH_SERVICE = "grpc.health.v1.Health";

export class Health {
  readonly implementation: HealthImplementation;
  readonly #services: readonly string[];

  constructor(service: string) {
    this.#services = ["", service];
    this.implementation = new HealthImplementation(
      Object.fromEntries(this.#services.map((s) => [s, "NOT_SERVING" as const])),
    );
  }

  set(serving: boolean): void {
    for (const s of this.#services) this.implementation.setStatus(s, serving ? "SERVING" : "NOT_SERVING");
  }
}
