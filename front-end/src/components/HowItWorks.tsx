import { EMOTIONS } from "@/lib/emotions";

/** What the result card says before the first analysis: what will happen and what comes back. */
export function HowItWorks({ kind, experts = false }: { kind?: "default" | "checkpoint"; experts?: boolean }) {
  const steps =
    kind !== "checkpoint" && experts
      ? [
          "Frames are sampled evenly through the video (at least two a second), and the face in each is found and cropped.",
          "The speech in the sound is found (silence, music and noise are left out) and read in windows of a few seconds.",
          "A face expert and a voice expert each score what they got; their scores are pooled per second and overall.",
          "An audio recording alone works too: then the voice is read on its own.",
        ]
      : kind === "checkpoint"
      ? [
          "The video is cut into windows of a few seconds.",
          "In each window the face is found and cropped, and the sound is taken as it is.",
          "A trained model weighs face and voice together and scores each window.",
        ]
      : [
          "Frames are sampled evenly through the video (at least two a second).",
          "The face in each frame is found and cropped.",
          "A facial-expression network scores each face; the scores are averaged per second and overall.",
        ];
  return (
    <div className="space-y-4 text-sm" data-testid="result-empty">
      <p className="text-muted-foreground">No clip analysed yet. Here is what happens when you send one:</p>
      <ol className="list-inside list-decimal space-y-1.5">
        {steps.map((step) => (
          <li key={step}>{step}</li>
        ))}
      </ol>
      <div className="space-y-2">
        <p className="text-muted-foreground">You get a score for each of six emotions, and a curve of how they change:</p>
        <ul className="flex flex-wrap gap-1.5" aria-label="The six emotions">
          {EMOTIONS.map((emotion) => (
            <li key={emotion.abbr} className="flex items-center gap-1.5 rounded-full border px-2.5 py-0.5 text-xs">
              <span className="size-2 rounded-full" style={{ background: emotion.color }} aria-hidden="true" />
              {emotion.name}
            </li>
          ))}
        </ul>
      </div>
    </div>
  );
}
