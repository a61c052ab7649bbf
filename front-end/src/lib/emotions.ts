/** The six classes, always in the API's order, with how the page shows each. */
export const EMOTIONS = [
  { abbr: "NEU", name: "Neutral", color: "var(--emotion-neu)" },
  { abbr: "HAP", name: "Happy", color: "var(--emotion-hap)" },
  { abbr: "SAD", name: "Sad", color: "var(--emotion-sad)" },
  { abbr: "ANG", name: "Angry", color: "var(--emotion-ang)" },
  { abbr: "FEA", name: "Fearful", color: "var(--emotion-fea)" },
  { abbr: "DIS", name: "Disgusted", color: "var(--emotion-dis)" },
] as const;

export type EmotionAbbr = (typeof EMOTIONS)[number]["abbr"];

export function emotionName(abbr: string | null | undefined): string {
  return EMOTIONS.find((e) => e.abbr === abbr)?.name ?? abbr ?? "—";
}

export function emotionColor(abbr: string | null | undefined): string {
  return EMOTIONS.find((e) => e.abbr === abbr)?.color ?? "var(--muted-foreground)";
}
