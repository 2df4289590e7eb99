// Actions on keys that more than one page offers (list and detail): check, delete, reveal,
// edit. Pages hold the dialogs; this holds what they act on.
import type { ApiKey } from "@cv-wallet/proto/wallet/v1";
import { wallet } from "./api/client.ts";
import { errorMessage } from "./api/errors.ts";
import { withArticle } from "./format/prefix.ts";
import { curlyQuotes } from "./format/quotes.ts";
import { validationBadge } from "./format/status.ts";

export class KeyActions {
  editing = $state<ApiKey | undefined>(undefined);
  editOpen = $state(false);
  deleting = $state<ApiKey | undefined>(undefined);
  deleteOpen = $state(false);
  revealing = $state<ApiKey | undefined>(undefined);
  revealOpen = $state(false);
  checking = $state<Record<string, boolean>>({});
  defaulting = $state<Record<string, boolean>>({});
  moving = $state<Record<string, boolean>>({});
  message = $state<{ text: string; tone: "notice" | "warning" | "error" } | undefined>(undefined);

  add(): void {
    this.editing = undefined;
    this.editOpen = true;
  }

  edit(key: ApiKey): void {
    this.editing = key;
    this.editOpen = true;
  }

  askDelete(key: ApiKey): void {
    this.deleting = key;
    this.deleteOpen = true;
  }

  reveal(key: ApiKey): void {
    this.revealing = key;
    this.revealOpen = true;
  }

  /** ValidateKey now; returns the updated record, or undefined (with a message) on failure. */
  async check(key: ApiKey): Promise<ApiKey | undefined> {
    this.checking[key.id] = true;
    try {
      const res = await wallet().validateKey({ id: key.id });
      const badge = validationBadge(res.key?.validation?.status, res.key?.validation?.checkedAt !== undefined);
      const detail = res.key?.validation?.detail ? `: ${res.key.validation.detail}` : "";
      this.message = {
        text: `Checked “${key.name}”: ${badge.label}${detail}.`,
        tone: badge.tone === "good" ? "notice" : badge.tone === "bad" ? "error" : "warning",
      };
      return res.key;
    } catch (err) {
      this.message = { text: `Could not check “${key.name}”: ${errorMessage(err)}`, tone: "error" };
      return undefined;
    } finally {
      this.checking[key.id] = false;
    }
  }

  /** UpdateKey isDefault: this key becomes what cv-git gets for its provider. */
  /** Files the key under the provider its prefix belongs to. */
  async move(key: ApiKey, to: string, toName: string): Promise<ApiKey | undefined> {
    this.moving[key.id] = true;
    try {
      const res = await wallet().updateKey({ id: key.id, provider: to });
      const becameDefault = res.key?.isDefault ? `, as its default key` : "";
      this.message = {
        text: `“${key.name}” is now ${withArticle(toName)} key${becameDefault}.${res.warnings.length ? ` ${res.warnings.join(" ")}` : ""}`,
        tone: res.warnings.length ? "warning" : "notice",
      };
      return res.key;
    } catch (err) {
      this.message = { text: `Could not move “${key.name}” to ${toName}: ${errorMessage(err)}`, tone: "error" };
      return undefined;
    } finally {
      this.moving[key.id] = false;
    }
  }

  async makeDefault(key: ApiKey, providerName: string): Promise<ApiKey | undefined> {
    this.defaulting[key.id] = true;
    try {
      const res = await wallet().updateKey({ id: key.id, isDefault: true });
      this.message = { text: `“${key.name}” is now the default ${providerName} key.`, tone: "notice" };
      return res.key;
    } catch (err) {
      this.message = { text: `Could not make “${key.name}” the default: ${errorMessage(err)}`, tone: "error" };
      return undefined;
    } finally {
      this.defaulting[key.id] = false;
    }
  }

  /** DeleteKey; returns an error message for the confirmation dialog, or undefined. */
  async remove(key: ApiKey): Promise<string | undefined> {
    try {
      await wallet().deleteKey({ id: key.id });
      this.message = { text: `Deleted “${key.name}”.`, tone: "notice" };
      return undefined;
    } catch (err) {
      return errorMessage(err);
    }
  }

  saved(key: ApiKey, warnings: string[], created: boolean): void {
    const verb = created ? "Added" : "Saved";
    this.message =
      warnings.length > 0
        ? { text: `${verb} “${key.name}”. ${warnings.map(curlyQuotes).join(" ")}`, tone: "warning" }
        : { text: `${verb} “${key.name}”.`, tone: "notice" };
  }
}
