import { useCallback, useEffect, useRef, useState } from "react";

import { analyse, isAbort } from "@/api/client";
import type { Prediction } from "@/api/types";

export type AnalysisState =
  | { status: "idle" }
  | { status: "uploading"; loaded: number; total: number; startedAt: number }
  | { status: "analysing"; startedAt: number }
  | { status: "done"; result: Prediction; elapsedMs: number }
  | { status: "error"; error: unknown }
  | { status: "cancelled" };

export interface Analysis {
  state: AnalysisState;
  run: (file: Blob, fileName: string, sampleFrames: number) => Promise<void>;
  cancel: () => void;
  reset: () => void;
  busy: boolean;
}

/** One analysis at a time: a new run or a reset cancels the one in flight; unmounting cancels too. */
export function useAnalysis(): Analysis {
  const [state, setState] = useState<AnalysisState>({ status: "idle" });
  const current = useRef<AbortController | null>(null);

  const run = useCallback(async (file: Blob, fileName: string, sampleFrames: number) => {
    current.current?.abort();
    const controller = new AbortController();
    current.current = controller;
    const startedAt = performance.now();
    const mine = () => current.current === controller && !controller.signal.aborted;
    setState({ status: "uploading", loaded: 0, total: file.size, startedAt });
    try {
      const result = await analyse(file, fileName, {
        sampleFrames,
        signal: controller.signal,
        onProgress: (progress) => {
          if (!mine()) return;
          setState(
            progress.phase === "uploading"
              ? { status: "uploading", loaded: progress.loaded, total: progress.total, startedAt }
              : { status: "analysing", startedAt },
          );
        },
      });
      if (mine()) setState({ status: "done", result, elapsedMs: performance.now() - startedAt });
    } catch (error) {
      if (current.current !== controller) return;
      setState(isAbort(error) ? { status: "cancelled" } : { status: "error", error });
    }
  }, []);

  const cancel = useCallback(() => current.current?.abort(), []);
  const reset = useCallback(() => {
    const controller = current.current;
    current.current = null;
    controller?.abort();
    setState({ status: "idle" });
  }, []);

  useEffect(() => () => current.current?.abort(), []);

  const busy = state.status === "uploading" || state.status === "analysing";
  return { state, run, cancel, reset, busy };
}
