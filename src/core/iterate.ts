/**
 * Cheap async iteration for rows that are ready at once (SQLite's driver is synchronous): an async generator costs
 * several turns of the microtask queue per item, which on an hourly export of half a million rows was about a
 * fifth of the query's time. These give one already-settled promise per item and keep `return()` (a consumer that
 * stops early still ends the source, so its `finally` runs).
 */

/** A synchronous iterator as an async one. */
export function asAsync<T>(it: Iterator<T>): AsyncIterableIterator<T> {
  const settle = (step: () => IteratorResult<T>): Promise<IteratorResult<T>> => {
    try {
      return Promise.resolve(step());
    } catch (e) {
      return Promise.reject(e);
    }
  };
  return {
    next: () => settle(() => it.next()),
    return: (value?: unknown) => settle(() => it.return?.(value) ?? { done: true, value: undefined }),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** The items of `source`, each mapped by `f`. */
export function mapAsync<T, U>(source: AsyncIterable<T>, f: (item: T) => U): AsyncIterableIterator<U> {
  const it = source[Symbol.asyncIterator]();
  return {
    next: () => it.next().then((r) => (r.done ? { done: true, value: undefined } : { done: false, value: f(r.value) })),
    return: async (value?: unknown) => {
      await it.return?.(value);
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
