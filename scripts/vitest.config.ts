// The repository-wide checks in scripts/ (the layout's dependency rules), run by `npm test`
// like a workspace: the report lands in scripts/.reports/vitest.json.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: ["*.test.ts"],
    reporters: ["default", ["json", { outputFile: ".reports/vitest.json" }]],
  },
});
