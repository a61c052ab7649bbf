import { EMOTIONS } from "@/lib/emotions";
import { percent } from "@/lib/format";
import { cn } from "@/lib/utils";

interface ScoreBarsProps {
  scores: Record<string, number>;
  /** The class to stress (the prediction). */
  top?: string;
  compact?: boolean;
}

/** All six scores as horizontal bars, in the API's class order. */
export function ScoreBars({ scores, top, compact }: ScoreBarsProps) {
  return (
    <ul className={cn("grid", compact ? "gap-1" : "gap-2.5")} aria-label="Scores for each emotion">
      {EMOTIONS.map((emotion) => {
        const p = scores[emotion.abbr] ?? 0;
        const isTop = emotion.abbr === top;
        return (
          <li
            key={emotion.abbr}
            data-testid={`score-${emotion.abbr}`}
            className={cn("grid items-center gap-3", compact ? "grid-cols-[5.5rem_1fr_3rem] text-xs" : "grid-cols-[6.5rem_1fr_3.5rem] text-sm")}
          >
            <span className={cn(isTop && "font-semibold")}>{emotion.name}</span>
            <span className={cn("overflow-hidden rounded-full bg-muted", compact ? "h-1.5" : "h-2.5")} aria-hidden="true">
              <span
                className="block h-full rounded-full transition-[width] duration-500"
                style={{ width: `${Math.max(p * 100, p > 0 ? 1 : 0)}%`, background: emotion.color }}
              />
            </span>
            <span className={cn("text-right tabular-nums", isTop ? "font-semibold" : "text-muted-foreground")}>
              {percent(p, p < 0.1 ? 1 : 0)}
            </span>
          </li>
        );
      })}
    </ul>
  );
}
