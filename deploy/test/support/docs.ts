// Reads the shell examples out of a Markdown document, for the documentation test: fenced
// code blocks, their logical commands (backslash continuations joined), and what the document
// says each command prints:
//   - a comment line starting with `# →` after the command (more comment lines indented under
//     it continue it), or
//   - a trailing comment that is JSON (`curl $W/healthz   # {"status":"ok"} while …`), or
//   - a trailing comment `# Prometheus: a_metric, b_metric, …` (each name must be in the output).
// In an expected output `…` stands for anything (a quoted string with `…` in it, any string);
// everything else is compared literally,
// whitespace aside (timestamps, dates and version numbers match any of their kind).
import { readFileSync } from "node:fs";

export interface DocCommand {
  /** The command as written, continuations joined (trailing comment removed). */
  text: string;
  /** 1-based line in the document, for failure messages. */
  line: number;
  /** What the document says it prints, if it says. */
  expected?: { kind: "text"; text: string } | { kind: "metrics"; names: string[] };
}

export interface DocBlock {
  line: number;
  lang: string;
  commands: DocCommand[];
  /**
   * Why the block cannot run here, from a `<!-- docs-test: not run: REASON -->` line just above
   * it (a cluster's Secret, say); the test names each such block as a skip.
   */
  notRun?: string;
}

const NOT_RUN = /^<!--\s*docs-test: not run: (.+?)\s*-->$/;

export function readDocBlocks(path: string): DocBlock[] {
  const lines = readFileSync(path, "utf8").split("\n");
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const body: { text: string; line: number }[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]!); j++) {
      body.push({
        text: lines[j]!.slice(Math.min(indent, lines[j]!.length - lines[j]!.trimStart().length)),
        line: j + 1,
      });
    }
    let above = i - 1;
    while (above >= 0 && lines[above]!.trim() === "") above--;
    const notRun = above >= 0 ? NOT_RUN.exec(lines[above]!.trim())?.[1] : undefined;
    blocks.push({ line: i + 1, lang: open[2]!, commands: commandsOf(body), ...(notRun ? { notRun } : {}) });
    i = j;
  }
  return blocks;
}

/** Splits `cmd args  # comment` at the first `#` outside quotes that follows whitespace. */
export function splitComment(line: string): { code: string; comment?: string } {
  let quote: string | undefined;
  for (let k = 0; k < line.length; k++) {
    const c = line[k]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === "#" && (k === 0 || /\s/.test(line[k - 1]!))) {
      return { code: line.slice(0, k).trimEnd(), comment: line.slice(k + 1).trim() };
    }
  }
  return { code: line.trimEnd() };
}

function commandsOf(body: { text: string; line: number }[]): DocCommand[] {
  const commands: DocCommand[] = [];
  // The expectation being collected (a `# →` line and the comment lines under it).
  let collecting: { command: DocCommand; kind: "text" | "metrics"; parts: string[] } | undefined;
  const finish = () => {
    if (!collecting) return;
    const { command, kind, parts } = collecting;
    const joined = parts.join(" ");
    command.expected =
      kind === "text"
        ? { kind, text: (joined.startsWith("{") && leadingJson(joined)) || joined }
        : { kind, names: parts.join(" ").match(/\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b/g) ?? [] };
    collecting = undefined;
  };
  for (let k = 0; k < body.length; k++) {
    const { text, line } = body[k]!;
    const trimmed = text.trim();
    if (trimmed === "") {
      finish();
      continue;
    }
    if (trimmed.startsWith("#")) {
      const comment = trimmed.slice(1);
      const arrow = /^\s*→\s?(.*)$/.exec(comment);
      if (arrow && commands.length > 0) {
        finish();
        const parts = [arrow[1]!];
        collecting = { command: commands.at(-1)!, kind: "text", parts };
      } else if (collecting && /^\s{2,}\S/.test(comment)) {
        collecting.parts.push(comment.trim());
      } else finish();
      continue;
    }
    finish();
    // A logical command: continuation lines joined.
    let code = "";
    let comment: string | undefined;
    let j = k;
    for (;;) {
      const part = splitComment(body[j]!.text);
      comment = part.comment;
      if (part.code.endsWith("\\") && j + 1 < body.length) {
        code += `${part.code.slice(0, -1).trimEnd()} `;
        j++;
        continue;
      }
      code += part.code.trim();
      break;
    }
    k = j;
    const command: DocCommand = { text: code.trim(), line };
    commands.push(command);
    if (comment?.startsWith("{") || comment?.startsWith("→")) {
      const json = leadingJson(comment.replace(/^→\s*/, ""));
      if (json) command.expected = { kind: "text", text: json };
    } else if (comment?.startsWith("Prometheus:")) {
      collecting = { command, kind: "metrics", parts: [comment.slice("Prometheus:".length)] };
    }
  }
  finish();
  return commands;
}

/** The balanced `{…}` at the start of `text`, if any. */
function leadingJson(text: string): string | undefined {
  let depth = 0;
  let quote = false;
  for (let k = 0; k < text.length; k++) {
    const c = text[k]!;
    if (quote) {
      if (c === '"') quote = false;
    } else if (c === '"') quote = true;
    else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return text.slice(0, k + 1);
  }
  return undefined;
}

/** Removes whitespace outside double-quoted strings. */
export function squeeze(text: string): string {
  let out = "";
  let quote = false;
  for (const c of text) {
    if (quote) {
      out += c;
      if (c === '"') quote = false;
    } else if (c === '"') {
      quote = true;
      out += c;
    } else if (!/\s/.test(c)) out += c;
  }
  return out;
}

/**
 * Whether `actual` is what the document says: `…` matches anything (a string with `…` in it, any
 * string); an ISO timestamp, an ISO
 * date or a dotted version number matches any of its kind; the rest literally, whitespace aside.
 */
export function matchesExpected(expected: string, actual: string): boolean {
  const generic = [/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z$/, /^\d{4}-\d\d-\d\d$/];
  const literal = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const text = squeeze(expected);
  let pattern = "";
  for (let k = 0; k < text.length; ) {
    if (text[k] === '"') {
      const end = text.indexOf('"', k + 1);
      const inner = text.slice(k + 1, end === -1 ? text.length : end);
      k = end === -1 ? text.length : end + 1;
      // A string shown elided ("6b08…", "sk-proj-…") stands for any string.
      if (inner.includes("…")) pattern += '"[^"]*"';
      else if (generic.some((g) => g.test(inner)))
        pattern += `"${generic.find((g) => g.test(inner))!.source.slice(1, -1)}"`;
      // Version numbers (a user agent's curl/8.5.0) match any version.
      else pattern += `"${literal(inner).replace(/\d+\\\.\d+\\\.\d+/g, String.raw`\d+\.\d+\.\d+`)}"`;
      continue;
    }
    pattern += text[k] === "…" ? "[\\s\\S]*?" : literal(text[k]!);
    k++;
  }
  return new RegExp(`^${pattern}$`).test(squeeze(actual));
}
