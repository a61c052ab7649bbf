import { Check, Clock, Cpu, Minus, X } from "lucide-react";

import type { Prediction } from "@/api/types";
import { Badge } from "@/components/ui/badge";
import { emotionColor } from "@/lib/emotions";
import { milliseconds, percent, seconds } from "@/lib/format";

const MODALITY_NAMES: Record<string, string> = { video: "Face", audio: "Voice" };

function modalityState(result: Prediction, modality: string): "used" | "missing" | "unused" {
  if (result.modalities.used.includes(modality)) return "used";
  if (result.modalities.model.includes(modality)) return "missing";
  return "unused";
}

/** [term, value, test id] rows of the timings list. */
function timings(result: Prediction, elapsedMs?: number): Array<[string, string, string?]> {
  const t = result.timing_ms;
  const rows: Array<[string, string, string?]> = [
    ["Clip", seconds(result.duration_s), "clip-duration"],
    ["Frames", String(result.frames_analysed)],
    ["Decoding", milliseconds(t.decode)],
    ["Faces", milliseconds(t.faces)],
    ["Model", milliseconds(t.model)],
    ["Server total", milliseconds(t.total)],
  ];
  if (elapsedMs !== undefined) rows.push(["With upload", milliseconds(elapsedMs)]);
  return rows;
}

/** The answer: emotion and confidence, what was read (face, voice), which model, how long it took. */
export function ResultSummary({ result, elapsedMs }: { result: Prediction; elapsedMs?: number }) {
  const isDefault = result.model.kind === "default";
  return (
    <div className="space-y-5" data-testid="result">
      <div className="flex items-end justify-between gap-4">
        <div>
          <p className="text-sm text-muted-foreground">Most likely</p>
          <p className="flex items-center gap-2.5 text-4xl font-bold tracking-tight">
            <span className="size-5 shrink-0 rounded-full" style={{ background: emotionColor(result.emotion) }} aria-hidden="true" />
            <span data-testid="emotion">{result.label}</span>
          </p>
        </div>
        <div className="text-right">
          <p className="text-3xl font-semibold tabular-nums" data-testid="confidence">
            {percent(result.confidence)}
          </p>
          <p className="text-sm text-muted-foreground">confidence{result.model.calibrated ? " (calibrated)" : ""}</p>
        </div>
      </div>

      <section aria-labelledby="modalities-heading" className="space-y-2">
        <h3 id="modalities-heading" className="text-sm font-medium">
          What was read
        </h3>
        <ul className="grid gap-2 sm:grid-cols-2">
          {["video", "audio"].map((modality) => {
            const state = modalityState(result, modality);
            const Icon = state === "used" ? Check : state === "missing" ? X : Minus;
            const word = state === "used" ? "used" : state === "missing" ? "missing" : "not used";
            return (
              <li key={modality} className="flex items-start gap-2 rounded-md border p-2.5 text-sm" data-testid={`modality-${modality}`}>
                <Icon
                  className={state === "used" ? "mt-0.5 size-4 text-emerald-600 dark:text-emerald-400" : "mt-0.5 size-4 text-muted-foreground"}
                  aria-hidden="true"
                />
                <span>
                  <span className="font-medium">
                    {MODALITY_NAMES[modality]}: {word}
                  </span>
                  <span className="block text-muted-foreground">{result.modalities.detail[modality]}</span>
                </span>
              </li>
            );
          })}
        </ul>
      </section>

      <section aria-labelledby="model-heading" className="space-y-2 text-sm">
        <h3 id="model-heading" className="font-medium">
          Model
        </h3>
        <div className="flex flex-wrap items-center gap-2">
          <Badge variant="secondary" data-testid="model-name">
            <Cpu aria-hidden="true" /> {result.model.name}
          </Badge>
          <Badge variant="outline">{isDefault ? "embedded default · face only" : "trained · face + voice"}</Badge>
        </div>
        {isDefault && (
          <p className="text-muted-foreground">
            The default model reads facial expressions, frame by frame; it does not listen to the voice. Serve a trained
            checkpoint to use both.
          </p>
        )}
      </section>

      <section aria-labelledby="timing-heading" className="space-y-2 text-sm">
        <h3 id="timing-heading" className="flex items-center gap-1.5 font-medium">
          <Clock className="size-4" aria-hidden="true" /> Timings
        </h3>
        <dl className="grid grid-cols-2 gap-x-6 gap-y-1 text-muted-foreground">
          {timings(result, elapsedMs).map(([term, value, testId]) => (
            <div key={term} className="flex justify-between gap-2">
              <dt>{term}</dt>
              <dd className="tabular-nums" data-testid={testId}>
                {value}
              </dd>
            </div>
          ))}
        </dl>
      </section>
    </div>
  );
}
