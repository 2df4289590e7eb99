// Debian's Chromium driven by playwright-core, and page screenshots at the two widths the UI
// is designed for, written to web/test-results/ as artifacts.
import { existsSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { unnamedControls } from "./ui.ts";

export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const haveChromium = existsSync(chromiumPath);
export const resultsDir = resolve(fileURLToPath(new URL("../../../test-results", import.meta.url)));

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

export const WIDE = { width: 1440, height: 900 };
export const NARROW = { width: 375, height: 812 };

/**
 * `<name>-1440.png`, `<name>-375.png`, `<name>-dark-1440.png` and `<name>-dark-375.png` (full
 * page), then back to the wide viewport in the light.
 */
export async function screenshots(page: Page, name: string): Promise<void> {
  // Every page photographed is also checked: each control has an accessible name.
  const unnamed = await unnamedControls(page);
  if (unnamed.length > 0) throw new Error(`controls without an accessible name on ${name}: ${unnamed.join(" | ")}`);
  mkdirSync(resultsDir, { recursive: true });
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    const suffix = scheme === "dark" ? "-dark" : "";
    await page.setViewportSize(WIDE);
    await page.screenshot({ path: resolve(resultsDir, `${name}${suffix}-1440.png`), fullPage: true });
    await page.setViewportSize(NARROW);
    await page.screenshot({ path: resolve(resultsDir, `${name}${suffix}-375.png`), fullPage: true });
  }
  await page.emulateMedia({ colorScheme: "light" });
  await page.setViewportSize(WIDE);
}

/**
 * What is on screen now (e.g. an open dialog): `<name>.png`, or with `both` at both widths,
 * light and dark, like `screenshots`.
 */
export async function screenshot(page: Page, name: string, both = false): Promise<void> {
  const unnamed = await unnamedControls(page);
  if (unnamed.length > 0) throw new Error(`controls without an accessible name on ${name}: ${unnamed.join(" | ")}`);
  mkdirSync(resultsDir, { recursive: true });
  if (!both) {
    await page.screenshot({ path: resolve(resultsDir, `${name}.png`) });
    return;
  }
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    const suffix = scheme === "dark" ? "-dark" : "";
    await page.setViewportSize(WIDE);
    await page.screenshot({ path: resolve(resultsDir, `${name}${suffix}-1440.png`) });
    await page.setViewportSize(NARROW);
    await page.screenshot({ path: resolve(resultsDir, `${name}${suffix}-375.png`) });
  }
  await page.emulateMedia({ colorScheme: "light" });
  await page.setViewportSize(WIDE);
}
