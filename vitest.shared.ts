// The test settings every workspace shares. Each run also writes a JSON report to
// .reports/vitest.json, which `npm test` sums into its closing line.
import { defineConfig, mergeConfig, type ViteUserConfig } from "vitest/config";

export function workspaceTestConfig(overrides: ViteUserConfig = {}): ViteUserConfig {
  return mergeConfig(
    defineConfig({
      test: {
        include: ["test/**/*.test.ts", "src/**/*.test.ts"],
        reporters: ["default", ["json", { outputFile: ".reports/vitest.json" }]],
        testTimeout: 30_000,
        hookTimeout: 120_000,
        // Two cores here: suites that start servers run one file at a time per workspace.
        fileParallelism: false,
      },
    }),
    overrides,
  );
}
