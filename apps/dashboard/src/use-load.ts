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
