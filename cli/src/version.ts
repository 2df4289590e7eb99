// The package's version, read from its package.json (inlined into the bundle at pack time).
import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;
