import { type DependencyList, useCallback, useEffect, useRef, useState } from 'react';

export interface Load<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Loads again; keeps the data shown meanwhile. */
  reload: () => Promise<void>;
  setData: (data: T) => void;
}

/** Runs `load` on mount and whenever `deps` change; stale answers are dropped. */
export function useLoad<T>(load: () => Promise<T>, deps: DependencyList): Load<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const run = useCallback(
    async () => {
      const mine = ++generation.current;
      setLoading(true);
      try {
        const result = await load();
        if (mine !== generation.current) return;
        setData(result);
        setError(undefined);
      } catch (err) {
        if (mine !== generation.current) return;
        setError(err);
      } finally {
        if (mine === generation.current) setLoading(false);
      }
    },
    // biome-ignore lint/correctness/useExhaustiveDependencies: the caller lists what `load` reads.
    deps,
  );
  useEffect(() => {
    void run();
    return () => {
      generation.current++;
    };
  }, [run]);
  return { data, error, loading, reload: run, setData };
}

/** A list the API answers a page at a time (`{data, next_cursor}`). */
export interface Pages<T> {
  /** Every row loaded so far, the first page's first; undefined until the first page arrives. */
  items: T[] | undefined;
  error: unknown;
  loading: boolean;
  /** The next page's cursor; null when there is no next page. */
  cursor: string | null;
  /** Why the last "load more" failed, if it did. */
  moreError: unknown;
  loadMore: () => Promise<void>;
  /** Changes the rows shown (one created, one revoked) without loading them again. */
  setItems: (change: (items: T[]) => T[]) => void;
}

/**
 * The first page on mount and whenever `deps` change (as `useLoad`), then one more page per
 * `loadMore`; `fetchPage` is asked with no cursor for the first.
 */
export function usePages<T>(
  fetchPage: (cursor?: string) => Promise<{ data: T[]; next_cursor: string | null }>,
  deps: DependencyList,
): Pages<T> {
  const [extra, setExtra] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [moreError, setMoreError] = useState<unknown>();
  const first = useLoad(async () => {
    const page = await fetchPage();
    setExtra([]);
    setCursor(page.next_cursor);
    return page.data;
  }, deps);
  const items = first.data ? [...first.data, ...extra] : undefined;

  async function loadMore() {
    if (!cursor) return;
    try {
      const page = await fetchPage(cursor);
      setExtra((rows) => [...rows, ...page.data]);
      setCursor(page.next_cursor);
      setMoreError(undefined);
    } catch (error) {
      setMoreError(error);
    }
  }

  return {
    items,
    error: first.error,
    loading: first.loading,
    cursor,
    moreError,
    loadMore,
    setItems: (change) => {
      first.setData(change(items ?? []));
      setExtra([]);
    },
  };
}
