// Small helpers over playwright-core (which has no auto-waiting expect of its own).
import type { Locator, Page } from "playwright-core";

/** Waits until the locator's text matches, and returns it; fails with the last text seen. */
export async function textMatching(locator: Locator, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    last = ((await locator.count()) > 0 ? await locator.first().textContent() : "") ?? "";
    if (pattern.test(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`expected text matching ${pattern}, last saw ${JSON.stringify(last.trim())}`);
}

export function keyRow(page: Page, name: string): Locator {
  return page.locator(`tr[data-key-name="${name}"]`);
}

export interface NewKey {
  provider: string;
  name: string;
  key: string;
  isDefault?: boolean;
  expiresOn?: string;
}

/** Adds a key through the dialog, keyboard and labels only, and waits for its row. */
export async function addKey(page: Page, k: NewKey): Promise<void> {
  await page.getByRole("button", { name: "Add key" }).first().click();
  const dialog = page.getByRole("dialog", { name: "Add key" });
  await dialog.getByLabel("Provider", { exact: true }).selectOption(k.provider);
  await dialog.getByLabel("Name", { exact: true }).fill(k.name);
  await dialog.getByLabel("API key", { exact: true }).fill(k.key);
  if (k.expiresOn) await dialog.getByLabel("Expires on").fill(k.expiresOn);
  if (k.isDefault) await dialog.getByLabel("Default for this provider").check();
  await dialog.getByRole("button", { name: "Save" }).click();
  await dialog.waitFor({ state: "hidden" });
  await keyRow(page, k.name).waitFor();
}

/** YYYY-MM-DD `days` from now (UTC). */
export function daysFromNow(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

/** Waits until the locator matches exactly `n` elements (lists reload after a change). */
export async function countBecomes(locator: Locator, n: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  while (Date.now() < deadline) {
    last = await locator.count();
    if (last === n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`expected ${n} matching elements, last saw ${last}`);
}

/**
 * Every visible control (button, link, input, select, textarea) that has no accessible name:
 * no text, no associated <label>, no aria-label(ledby), no title. Empty on a good page.
 */
export function unnamedControls(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const visible = (el: Element) => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden";
    };
    const named = (el: Element) => {
      if (el.getAttribute("aria-label")?.trim() || el.getAttribute("title")?.trim()) return true;
      const by = el.getAttribute("aria-labelledby");
      if (by?.split(/\s+/).some((id) => document.getElementById(id)?.textContent?.trim())) return true;
      if (el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement) {
        return [...(el.labels ?? [])].some((l) => l.textContent?.trim());
      }
      return Boolean(el.textContent?.trim());
    };
    return [...document.querySelectorAll("button, a[href], input, select, textarea, summary")]
      .filter((el) => visible(el) && !named(el))
      .map((el) => el.outerHTML.slice(0, 120));
  });
}

/** Signs up through the UI, starting signed out, and waits for the Keys page. */
export async function signUp(page: Page, email: string, password: string): Promise<void> {
  await page.goto("/");
  await page.waitForURL("**/signin");
  await page.getByRole("link", { name: "Create an account" }).click();
  // Client-side navigation: wait for the new page, or the fill lands in the old form.
  await page.waitForURL("**/signup");
  await page.getByRole("button", { name: "Create account" }).waitFor();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Keys", exact: true }).waitFor();
}

/** The id of the focused element (forms move focus to the field in error). */
export function focusedId(page: Page): Promise<string | undefined> {
  return page.evaluate(() => document.activeElement?.id || undefined);
}

/** The data-key-name of every key row, in the order shown. */
export function rowNames(page: Page): Promise<string[]> {
  return page
    .locator("tr[data-key-name]")
    .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-key-name") ?? ""));
}
