import { Loader2, X } from "lucide-react";
import { useEffect, useState } from "react";

import { Button } from "@/components/ui/button";
import { Progress } from "@/components/ui/progress";
import type { AnalysisState } from "@/hooks/useAnalysis";
import { bytes } from "@/lib/format";

interface AnalysisProgressProps {
  state: Extract<AnalysisState, { status: "uploading" | "analysing" }>;
  onCancel: () => void;
}

/** Upload progress, then an "analysing" state with the time so far; cancel at any point. */
export function AnalysisProgress({ state, onCancel }: AnalysisProgressProps) {
  const [now, setNow] = useState(() => performance.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(performance.now()), 500);
    return () => window.clearInterval(timer);
  }, []);
  const elapsed = Math.max(0, (now - state.startedAt) / 1000);
  const uploading = state.status === "uploading";
  const value = uploading && state.total > 0 ? Math.min(100, (state.loaded / state.total) * 100) : null;

  return (
    <div className="space-y-3" data-testid="progress">
      <div className="flex items-center justify-between gap-3 text-sm">
        <span className="flex items-center gap-2 font-medium" role="status" aria-live="polite">
          <Loader2 className="size-4 animate-spin" aria-hidden="true" />
          {uploading ? `Uploading… ${Math.round(value ?? 0)}%` : "Analysing face and voice…"}
        </span>
        <span className="text-muted-foreground tabular-nums">
          {uploading ? `${bytes(state.loaded)} of ${bytes(state.total)}` : `${elapsed.toFixed(0)} s`}
        </span>
      </div>
      <Progress value={value} aria-label={uploading ? "Upload progress" : "Analysis in progress"} />
      <Button type="button" variant="outline" size="sm" onClick={onCancel}>
        <X /> Cancel
      </Button>
    </div>
  );
}
