// Masked display of a stored key: never more than its last four characters.

export const MASK = "••••";

/** "••••" + the last 4 characters. Prefers the server's masked form when it sent one. */
export function maskedKey(last4: string, serverMasked = ""): string {
  if (serverMasked) return serverMasked;
  return `${MASK}${last4.slice(-4)}`;
}

/** Masks a secret the browser holds (e.g. a just-revealed key once it is hidden again). */
export function maskSecret(secret: string): string {
  return secret.length <= 4 ? MASK : `${MASK}${secret.slice(-4)}`;
}
