/**
 * The embedded default model's two experts (face and voice) and how it pooled them: fields the
 * API adds to an answer, its segments and its model info, and that a trained checkpoint's answers
 * lack. They are read through these functions, which check their shape, rather than typed into the
 * generated types: an answer without them (a checkpoint) reads as `null`, and the page draws it as before.
 */
import { emotionName } from "@/lib/emotions";

import type { ModelInfo, Prediction, Segment } from "./types";

export type Scores = Record<string, number>;
export type ExpertName = "face" | "voice";
export const EXPERT_NAMES: readonly ExpertName[] = ["face", "voice"];

/** What one expert said about the whole clip. */
export interface ExpertAnswer {
  /** Its own six probabilities; null when it had nothing to read (no face, no speech). */
  scores: Scores | null;
  used: boolean;
  /** A sentence saying what it found ("a face in 30 of 32 frames", "no speech found in the sound …"). */
  detail: string;
  weight: number;
}

/** How the experts were combined. */
export interface Fusion {
  rule: string;
  weights: Partial<Record<ExpertName, number>>;
  /** The expert that pulled the pooled answer hardest towards its top class (the only one, when one had nothing). */
  dominant: ExpertName | null;
  /** Whether every expert used has the pooled answer as its own top class; null when only one was used. */
  agree: boolean | null;
}

export interface Experts {
  face: ExpertAnswer;
  voice: ExpertAnswer;
  fusion: Fusion | null;
}

/** The expert fields of one timeline segment (its `scores`/`emotion`/`confidence` are the pooled answer). */
export interface SegmentExperts {
  face: Scores | null;
  voice: Scores | null;
  /** Seconds of speech the voice activity detector found in the segment. */
  speechS: number | null;
  dominant: ExpertName | null;
  /** Whether both experts' top classes are the segment's answer; null where fewer than two could read it. */
  agree: boolean | null;
}

/** A measured figure: mean and standard deviation over folds. */
export interface Figure {
  mean: number;
  std: number;
}

export interface ExpertFigures {
  protocol?: string;
  war?: Figure;
  uar?: Figure;
  macro_f1?: Figure;
}

/** What `model.experts.<name>` says about an expert. */
export interface ExpertModel {
  name?: string;
  data?: string | null;
  figures?: ExpertFigures;
  model_card?: string;
}

export interface ModelExperts {
  face: ExpertModel | null;
  voice: ExpertModel | null;
  fusion: { rule?: string; weights?: Partial<Record<ExpertName, number>> } | null;
}

/** The shape the API sends, for building answers in tests. */
export interface ExpertFields {
  experts: Record<ExpertName, ExpertAnswer>;
  fusion: Fusion;
}
export interface SegmentExpertFields {
  face: Scores | null;
  voice: Scores | null;
  speech_s: number;
  dominant: ExpertName | null;
  agree?: boolean | null;
  frames?: number;
  faces?: number;
}

type Loose = Record<string, unknown>;

function isObject(value: unknown): value is Loose {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function scoresOrNull(value: unknown): Scores | null {
  if (!isObject(value)) return null;
  const out: Scores = {};
  for (const [key, p] of Object.entries(value)) if (typeof p === "number" && Number.isFinite(p)) out[key] = p;
  return Object.keys(out).length ? out : null;
}

function expertName(value: unknown): ExpertName | null {
  return value === "face" || value === "voice" ? value : null;
}

function weights(value: unknown): Partial<Record<ExpertName, number>> {
  const out: Partial<Record<ExpertName, number>> = {};
  if (isObject(value)) for (const name of EXPERT_NAMES) if (typeof value[name] === "number") out[name] = value[name];
  return out;
}

function expertAnswer(value: unknown): ExpertAnswer | null {
  if (!isObject(value)) return null;
  const scores = scoresOrNull(value.scores);
  return {
    scores,
    used: typeof value.used === "boolean" ? value.used : scores !== null,
    detail: typeof value.detail === "string" ? value.detail : "",
    weight: typeof value.weight === "number" ? value.weight : 1,
  };
}

/** The answer's experts and fusion; null for an answer without them (a trained checkpoint's). */
export function predictionExperts(result: Prediction): Experts | null {
  const loose = result as Loose;
  if (!isObject(loose.experts)) return null;
  const face = expertAnswer(loose.experts.face);
  const voice = expertAnswer(loose.experts.voice);
  if (!face || !voice) return null;
  const f = loose.fusion;
  const fusion: Fusion | null = isObject(f)
    ? {
        rule: typeof f.rule === "string" ? f.rule : "log-linear pooling",
        weights: weights(f.weights),
        dominant: expertName(f.dominant),
        agree: typeof f.agree === "boolean" ? f.agree : null,
      }
    : null;
  return { face, voice, fusion };
}

/** Whether a segment carries the experts' split (the default model's answers do). */
export function hasSegmentExperts(segment: Segment): boolean {
  return "face" in segment || "voice" in segment;
}

export function segmentExperts(segment: Segment): SegmentExperts {
  const loose = segment as Loose;
  return {
    face: scoresOrNull(loose.face),
    voice: scoresOrNull(loose.voice),
    speechS: typeof loose.speech_s === "number" ? loose.speech_s : null,
    dominant: expertName(loose.dominant),
    agree: typeof loose.agree === "boolean" ? loose.agree : null,
  };
}

function expertModel(value: unknown): ExpertModel | null {
  return isObject(value) ? (value as ExpertModel) : null;
}

/** `model.experts` and `model.fusion` of the default model; null for a checkpoint (or an older service). */
export function modelExperts(model: ModelInfo | undefined): ModelExperts | null {
  const loose = model as Loose | undefined;
  if (!loose || !isObject(loose.experts)) return null;
  const fusion = isObject(loose.fusion) ? { rule: typeof loose.fusion.rule === "string" ? loose.fusion.rule : undefined, weights: weights(loose.fusion.weights) } : null;
  return { face: expertModel(loose.experts.face), voice: expertModel(loose.experts.voice), fusion };
}

/** The top class of six scores and its probability; null for no scores. */
export function topOf(scores: Scores | null | undefined): { emotion: string; confidence: number } | null {
  if (!scores) return null;
  let best: { emotion: string; confidence: number } | null = null;
  for (const [emotion, p] of Object.entries(scores)) if (!best || p > best.confidence) best = { emotion, confidence: p };
  return best;
}

export const EXPERT_LABELS: Record<ExpertName, { name: string; noun: string; empty: string }> = {
  face: { name: "Face", noun: "the face", empty: "no face" },
  voice: { name: "Voice", noun: "the voice", empty: "no speech" },
};

/**
 * Why log-linear pooling sided with one expert when the two disagree, in the pool's own terms: the
 * product of the experts' probabilities picks the class whose preference survives the other's
 * objection. The winner prefers its class to the loser's by a larger ratio than the loser prefers
 * its own to the winner's. Null unless both read something, their top classes differ, and the
 * answer is one of the two.
 */
export function disagreement(experts: Experts, answer: string): { trusted: ExpertName; other: ExpertName; text: string } | null {
  const face = topOf(experts.face.scores);
  const voice = topOf(experts.voice.scores);
  if (!face || !voice || face.emotion === voice.emotion) return null;
  const trusted: ExpertName | null = answer === face.emotion ? "face" : answer === voice.emotion ? "voice" : null;
  if (!trusted) return null;
  const other: ExpertName = trusted === "face" ? "voice" : "face";
  const mineKey = trusted === "face" ? face.emotion : voice.emotion;
  const theirsKey = trusted === "face" ? voice.emotion : face.emotion;
  const [mine, theirs] = [emotionName(mineKey), emotionName(theirsKey)];
  const pct = (x: number | undefined) => `${Math.round((x ?? 0) * 100)}%`;
  const t = experts[trusted].scores ?? {};
  const o = experts[other].scores ?? {};
  const weighted = (experts.fusion?.weights.face ?? 1) !== (experts.fusion?.weights.voice ?? 1) ? ", after weighting" : "";
  return {
    trusted,
    other,
    text: `it prefers ${mine} to ${theirs} more strongly (${pct(t[mineKey])} to ${pct(t[theirsKey])}) than the ${other} prefers ${theirs} to ${mine} (${pct(o[theirsKey])} to ${pct(o[mineKey])})${weighted}`,
  };
}
