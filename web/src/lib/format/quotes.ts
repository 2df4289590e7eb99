// One quote style in the UI: curly double quotes around names and values (“work”).

/** Turns "straight" double quotes in a message from the wallet into “curly” ones. */
export function curlyQuotes(text: string): string {
  let open = true;
  return text.replace(/"/g, () => {
    const q = open ? "“" : "”";
    open = !open;
    return q;
  });
}
