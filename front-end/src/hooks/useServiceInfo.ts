import { useCallback, useEffect, useState } from "react";

import { getServiceInfo, isAbort } from "@/api/client";
import type { ServiceInfo } from "@/api/types";

export interface ServiceInfoState {
  info: ServiceInfo | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** GET / once on load: which model answers, and the limits to check before uploading. */
export function useServiceInfo(): ServiceInfoState {
  const [info, setInfo] = useState<ServiceInfo | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const controller = new AbortController();
    getServiceInfo(controller.signal)
      .then((value) => {
        setInfo(value);
        setError(null);
      })
      .catch((err: unknown) => {
        if (!isAbort(err)) setError(err);
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
  }, [attempt]);

  const reload = useCallback(() => {
    setLoading(true);
    setAttempt((n) => n + 1);
  }, []);
  return { info, error, loading, reload };
}
