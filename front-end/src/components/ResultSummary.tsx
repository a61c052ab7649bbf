import { Check, Clock, Cpu, Minus, X } from "lucide-react";

import { disagreement, EXPERT_LABELS, modelExperts, predictionExperts, topOf, type ExpertName, type Experts, type Figure, type ModelExperts } from "@/api/experts";
import type { Prediction } from "@/api/types";
import { Badge } from "@/components/ui/badge";
import { emotionColor, emotionName } from "@/lib/emotions";
import { milliseconds, percent, seconds } from "@/lib/format";

const MODALITY_NAMES: Record<string, string> = { video: "Face", audio: "Voice" };
const MODALITY_EXPERT: Record<string, ExpertName> = { video: "face", audio: "voice" };

function modalityState(result: Prediction, modality: string): "used" | "missing" | "unused" {
  if (result.modalities.used.includes(modality)) return "used";
  if (result.modalities.model.includes(modality)) return "missing";
  return "unused";
}

/** One expert's own answer: its top class and confidence, and whether it weighed most. */
function ExpertLine({ experts, name }: { experts: Experts; name: ExpertName }) {
  const top = topOf(experts[name].scores);
  const dominant = experts.fusion?.dominant === name && experts.fusion.agree !== null;
  return (
    <span className="flex flex-wrap items-center gap-x-1.5" data-testid={`expert-${name}`}>
      {top ? (
        <>
          <span className="size-2.5 shrink-0 rounded-full" style={{ background: emotionColor(top.emotion) }} aria-hidden="true" />
          <span>
            {EXPERT_LABELS[name].name} expert: {emotionName(top.emotion)}, {percent(top.confidence)}
          </span>
        </>
      ) : (
        <span>{EXPERT_LABELS[name].name} expert: no answer</span>
      )}
      {dominant && <Badge variant="secondary">weighed most</Badge>}
    </span>
  );
}

/** [term, value, test id] rows of the timings list. */
function timings(result: Prediction, elapsedMs?: number, photo = false): Array<[string, string, string?]> {
  const t = result.timing_ms;
  const rows: Array<[string, string, string?]> = [
    // A photo is read as a one-second still: its "length" is the service's convention, not the user's.
    photo ? ["Clip", "a photo", "clip-duration"] : ["Clip", seconds(result.duration_s), "clip-duration"],
    ["Frames", String(result.frames_analysed)],
    ["Decoding", milliseconds(t.decode)],
    ["Faces", milliseconds(t.faces)],
  ];
  const voice = (t as Record<string, unknown>).voice;
  if (typeof voice === "number") rows.push(["Voice", milliseconds(voice)]);
  rows.push(
    ["Model", milliseconds(t.model)],
    ["Server total", milliseconds(t.total)],
  );
  if (elapsedMs !== undefined) rows.push(["With upload", milliseconds(elapsedMs)]);
  return rows;
}

/** Whether face and voice agree, and which weighed most, in words (the colours only repeat it). */
function FusionSentence({ experts, label, answer }: { experts: Experts; label: string; answer: string }) {
  const fusion = experts.fusion;
  if (!fusion) return null;
  const face = topOf(experts.face.scores);
  const voice = topOf(experts.voice.scores);
  let agree: string | null = null;
  if (fusion.agree === true) agree = `Face and voice agree: both read ${label}.`;
  else if (fusion.agree === false && face && voice) {
    const why = disagreement(experts, answer);
    const split = `Face: ${emotionName(face.emotion)}, voice: ${emotionName(voice.emotion)} — they disagree`;
    agree = why
      ? `${split}; trusting the ${why.trusted} because ${why.text}.`
      : `${split}; the answer, ${label}, is the class both leave most room for.`;
  } else if (fusion.agree === false) agree = "Face and voice disagree.";
  else if (fusion.dominant) {
    const other: ExpertName = fusion.dominant === "face" ? "voice" : "face";
    agree = `Only ${EXPERT_LABELS[fusion.dominant].noun} could be read (${EXPERT_LABELS[other].empty}), so the answer is its alone.`;
  }
  const both = fusion.agree !== null;
  return (
    <p className="text-sm" data-testid="fusion">
      {agree && <span data-testid="fusion-agree">{agree}</span>}
      {both && fusion.dominant && (
        <>
          {" "}
          <span data-testid="fusion-dominant">
            {fusion.dominant === "face" ? "The face" : "The voice"} weighed most in the pooled answer.
          </span>
        </>
      )}
    </p>
  );
}

function figure(name: string, f: Figure | undefined): string | null {
  return f && typeof f.mean === "number" ? `${name} ${percent(f.mean)}${typeof f.std === "number" ? ` ± ${percent(f.std)}` : ""}` : null;
}

/** A figure measured once (the face expert's, on a fixed test split). */
function plainFigure(name: string, value: unknown): string | null {
  return typeof value === "number" && Number.isFinite(value) ? `${name} ${percent(value)}` : null;
}

/** The default model's two experts and its pooling rule, with each expert's measured figures. */
function DefaultModelNote({ model }: { model: ModelExperts }) {
  const face = model.face;
  const voice = model.voice;
  const weights = model.fusion?.weights ?? {};
  const figures = voice?.figures;
  const measured = figures ? [figure("UAR", figures.uar), figure("WAR", figures.war), figure("macro-F1", figures.macro_f1)].filter(Boolean) : [];
  const faceFigures = (face?.figures ?? {}) as Record<string, unknown>;
  const faceMeasured = [plainFigure("UAR", faceFigures.uar), plainFigure("WAR", faceFigures.war), plainFigure("7-class accuracy", faceFigures.accuracy7)].filter(Boolean);
  const weightText = (["face", "voice"] as const)
    .filter((name) => typeof weights[name] === "number")
    .map((name) => `${name} ${weights[name]}`)
    .join(", ");
  return (
    <div className="space-y-1 text-muted-foreground" data-testid="model-experts">
      <p>
        Two experts: a facial-expression network{face?.name ? ` (${face.name}${face.data ? `, trained on ${face.data}` : ""})` : ""} reads
        the face frame by frame, and a voice network{voice?.name ? ` (${voice.name}${voice.data ? `, trained on ${voice.data}` : ""})` : ""} reads
        each stretch of speech (silence, music and noise are not scored). Their probabilities are combined by{" "}
        {model.fusion?.rule ?? "log-linear pooling"}
        {weightText ? ` (weights: ${weightText})` : ""}, per second and overall.
      </p>
      {measured.length > 0 && (
        <p>
          Voice expert, measured{figures?.protocol ? ` (${figures.protocol})` : ""}: {measured.join(", ")}.
        </p>
      )}
      {faceMeasured.length > 0 && (
        <p data-testid="face-figures">
          Face expert, measured on FER2013{typeof faceFigures.split === "string" ? ` ${faceFigures.split}` : ""} (six classes): {faceMeasured.join(", ")}.
        </p>
      )}
    </div>
  );
}

/** The answer: emotion and confidence, what was read (face, voice), which model, how long it took. */
export function ResultSummary({ result, elapsedMs, photo = false }: { result: Prediction; elapsedMs?: number; photo?: boolean }) {
  const isDefault = result.model.kind === "default";
  const experts = predictionExperts(result);
  const model = modelExperts(result.model);
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
          {experts ? "Face and voice" : "What was read"}
        </h3>
        {experts && <FusionSentence experts={experts} label={result.label} answer={result.emotion} />}
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
                  {experts && <ExpertLine experts={experts} name={MODALITY_EXPERT[modality] ?? "face"} />}
                  <span className="block text-muted-foreground">
                    {(experts && experts[MODALITY_EXPERT[modality] ?? "face"].detail) || result.modalities.detail[modality]}
                  </span>
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
          <Badge variant="outline">
            {!isDefault ? "trained · face + voice" : model || experts ? "embedded default · face + voice experts" : "embedded default · face only"}
          </Badge>
        </div>
        {isDefault && (model || experts) && <DefaultModelNote model={model ?? { face: null, voice: null, fusion: null }} />}
        {isDefault && !model && !experts && (
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
          {timings(result, elapsedMs, photo).map(([term, value, testId]) => (
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
