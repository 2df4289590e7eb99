// Unit and component tests (src/**/*.test.ts, compiled by the SvelteKit plugin) and the
// browser suite (test/e2e), with the monorepo's shared settings and JSON report.
import { sveltekit } from "@sveltejs/kit/vite";
import { mergeConfig } from "vitest/config";
import { workspaceTestConfig } from "../vitest.shared.ts";

export default mergeConfig(workspaceTestConfig(), {
  plugins: [sveltekit({})],
});
