// `npm run test:deploy`: the image smoke test (podman builds and runs both images). Kept out
// of `npm test` because a first build takes a few minutes; .ci/run runs it after `npm test`.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["smoke/**/*.smoke.ts"],
    reporters: ["default", ["json", { outputFile: ".reports/images.json" }]],
    testTimeout: 600_000,
    hookTimeout: 900_000,
    fileParallelism: false,
  },
});
