// Bounded concurrency without a dependency: run `work` over `items` with at most `limit` calls
// in flight, in order of start. A call that throws rejects the whole run (as Promise.all does).

export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(0, Math.min(limit, items.length)) }, worker));
}
