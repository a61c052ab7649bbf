import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import { ResultSummary } from "@/components/ResultSummary";
import { expertPrediction, prediction } from "@/test/fakeXhr";

const FACE_SAD = { NEU: 0.1, HAP: 0.05, SAD: 0.75, ANG: 0.04, FEA: 0.04, DIS: 0.02 };
const VOICE_ANG = { NEU: 0.13, HAP: 0.05, SAD: 0.02, ANG: 0.65, FEA: 0.1, DIS: 0.05 };

describe("ResultSummary with the face and voice experts", () => {
  it("says that the experts agree, which weighed most, and what each read", () => {
    render(<ResultSummary result={expertPrediction()} />);
    expect(screen.getByRole("heading", { name: "Face and voice" })).toBeInTheDocument();
    expect(screen.getByTestId("fusion-agree")).toHaveTextContent("Face and voice agree: both read Happy.");
    expect(screen.getByTestId("fusion-dominant")).toHaveTextContent("The face weighed most in the pooled answer.");
    expect(screen.getByTestId("expert-face")).toHaveTextContent("Face expert: Happy, 72%");
    expect(screen.getByTestId("expert-voice")).toHaveTextContent("Voice expert: Happy, 70%");
    expect(within(screen.getByTestId("expert-face")).getByText("weighed most")).toBeInTheDocument();
    expect(within(screen.getByTestId("expert-voice")).queryByText("weighed most")).toBeNull();
    expect(screen.getByTestId("modality-audio")).toHaveTextContent("Voice: used");
    expect(screen.getByTestId("modality-audio")).toHaveTextContent("0.9 s of speech, scored in 1 of 1 window(s)");
  });

  it("says when they disagree, naming each one's answer", () => {
    const result = expertPrediction({
      emotion: "ANG",
      label: "Angry",
      experts: {
        face: { scores: FACE_SAD, used: true, detail: "a face in 30 of 32 frames", weight: 1 },
        voice: { scores: VOICE_ANG, used: true, detail: "2.1 s of speech, scored in 1 of 1 window(s)", weight: 1 },
      },
      fusion: { rule: "log-linear pooling", weights: { face: 1, voice: 1 }, dominant: "voice", agree: false },
    });
    render(<ResultSummary result={result} />);
    expect(screen.getByTestId("fusion-agree")).toHaveTextContent(
      "Face: Sad, voice: Angry — they disagree; trusting the voice because it prefers Angry to Sad more strongly (65% to 2%) than the face prefers Sad to Angry (75% to 4%).",
    );
    expect(screen.getByTestId("fusion-dominant")).toHaveTextContent("The voice weighed most in the pooled answer.");
    expect(screen.getByTestId("expert-face")).toHaveTextContent("Face expert: Sad, 75%");
    expect(within(screen.getByTestId("expert-voice")).getByText("weighed most")).toBeInTheDocument();
  });

  it("says when only one expert could read anything, with the other's reason", () => {
    const silent = "no speech found in the sound (silence, music or noise is not scored)";
    const result = expertPrediction({
      modalities: {
        model: ["video", "audio"],
        used: ["video"],
        missing: ["audio"],
        available: { video: true, audio: true },
        detail: { video: "a face in 30 of 32 frames", audio: silent },
      },
      experts: {
        face: { scores: FACE_SAD, used: true, detail: "a face in 30 of 32 frames", weight: 1 },
        voice: { scores: null, used: false, detail: silent, weight: 1 },
      },
      fusion: { rule: "log-linear pooling", weights: { face: 1, voice: 1 }, dominant: "face", agree: null },
    });
    render(<ResultSummary result={result} />);
    expect(screen.getByTestId("fusion-agree")).toHaveTextContent("Only the face could be read (no speech), so the answer is its alone.");
    expect(screen.queryByTestId("fusion-dominant")).toBeNull();
    expect(screen.getByTestId("expert-voice")).toHaveTextContent("Voice expert: no answer");
    expect(screen.getByTestId("modality-audio")).toHaveTextContent("Voice: missing");
    expect(screen.getByTestId("modality-audio")).toHaveTextContent(silent);
    expect(screen.queryByText("weighed most")).toBeNull();
  });

  it("describes the two-expert model and the voice expert's measured figures", () => {
    render(<ResultSummary result={expertPrediction()} />);
    const note = screen.getByTestId("model-experts");
    expect(note).toHaveTextContent("log-linear pooling (weights: face 1, voice 1)");
    expect(note).toHaveTextContent("Voice expert, measured (6-fold by actor): UAR 52% ± 3%, WAR 55% ± 4%, macro-F1 50% ± 3%.");
    expect(screen.getByTestId("face-figures")).toHaveTextContent(
      "Face expert, measured on FER2013 PrivateTest (six classes): UAR 55%, WAR 61%, 7-class accuracy 59%.",
    );
    expect(screen.getByText("embedded default · face + voice experts")).toBeInTheDocument();
  });

  it("is as before for an answer without experts", () => {
    render(<ResultSummary result={prediction()} />);
    expect(screen.getByRole("heading", { name: "What was read" })).toBeInTheDocument();
    expect(screen.queryByTestId("fusion")).toBeNull();
    expect(screen.queryByTestId("expert-face")).toBeNull();
    expect(screen.queryByTestId("model-experts")).toBeNull();
    expect(screen.getByText("embedded default · face only")).toBeInTheDocument();
    expect(screen.getByTestId("modality-audio")).toHaveTextContent("Voice: not used");
  });
});
