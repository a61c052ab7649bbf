import { describe, expect, it } from "vitest";

import { disagreement, type Experts } from "@/api/experts";

const FACE_HAP = { NEU: 0.2, HAP: 0.72, SAD: 0.02, ANG: 0.02, FEA: 0.03, DIS: 0.01 };
const VOICE_FEA = { NEU: 0.15, HAP: 0.2, SAD: 0.1, ANG: 0.1, FEA: 0.41, DIS: 0.04 };

function experts(face: Record<string, number> | null, voice: Record<string, number> | null, weights = { face: 1, voice: 1 }): Experts {
  return {
    face: { scores: face, used: face !== null, detail: "", weight: weights.face },
    voice: { scores: voice, used: voice !== null, detail: "", weight: weights.voice },
    fusion: { rule: "log-linear pooling", weights, dominant: "face", agree: false },
  };
}

describe("disagreement", () => {
  it("says why the pool sided with one expert, in its own probabilities", () => {
    // the product: Happy 0.72 × 0.20 = 0.144 beats Fearful 0.03 × 0.41 = 0.012
    const why = disagreement(experts(FACE_HAP, VOICE_FEA), "HAP");
    expect(why?.trusted).toBe("face");
    expect(why?.text).toBe("it prefers Happy to Fearful more strongly (72% to 3%) than the voice prefers Fearful to Happy (41% to 20%)");
    expect(disagreement(experts(FACE_HAP, VOICE_FEA, { face: 1, voice: 0.5 }), "HAP")?.text).toMatch(/, after weighting$/);
  });

  it("has nothing to explain when they agree, when one is missing, or when the answer is a third class", () => {
    expect(disagreement(experts(FACE_HAP, FACE_HAP), "HAP")).toBeNull();
    expect(disagreement(experts(FACE_HAP, null), "HAP")).toBeNull();
    expect(disagreement(experts(FACE_HAP, VOICE_FEA), "NEU")).toBeNull();
  });
});
