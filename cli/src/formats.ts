// `cvw env` output: the same variables as `cvw run`, quoted so each format's reader gets the
// exact value back — bash `source`/`eval`, the dotenv package (and readers that follow it),
// and JSON.

export const FORMATS = ["dotenv", "shell", "json"] as const;
export type Format = (typeof FORMATS)[number];

export class UnquotableError extends Error {
  override name = "UnquotableError";
}

/** POSIX shell single quotes: everything literal; a ' is closed, escaped and reopened. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * dotenv has no escape for its quote characters, and expands \n and \r inside double quotes,
 * so a value goes in whichever quotes it can sit in unchanged: single (nothing is expanded,
 * and dotenv-expand / docker compose leave $ alone there too), else double, else backticks.
 */
export function dotenvQuote(name: string, value: string): string {
  if (!value.includes("'")) return `'${value}'`;
  if (!value.includes('"') && !/\\[nr]/.test(value) && !/[\r\n]/.test(value)) return `"${value}"`;
  if (!value.includes("`")) return `\`${value}\``;
  throw new UnquotableError(
    `${name} holds all three quote characters (' " \`), which a .env file cannot carry; use --format shell or json`,
  );
}

export function render(vars: Record<string, string>, format: Format): string {
  const names = Object.keys(vars).sort();
  switch (format) {
    case "json":
      return `${JSON.stringify(Object.fromEntries(names.map((n) => [n, vars[n]])), null, 2)}\n`;
    case "shell":
      return names.map((n) => `export ${n}=${shellQuote(vars[n]!)}\n`).join("");
    case "dotenv":
      return names.map((n) => `${n}=${dotenvQuote(n, vars[n]!)}\n`).join("");
  }
}
