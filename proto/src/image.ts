import { readFileSync } from "node:fs";

/**
 * The compiled contracts as one FileDescriptorSet (with imports and source info): what
 * server reflection serves and what `buf breaking` compares against.
 */
export const imageUrl: URL = new URL("../gen/image.binpb", import.meta.url);

export function readImage(): Buffer {
  return readFileSync(imageUrl);
}
