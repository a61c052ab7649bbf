import { memo, useId, useState, type KeyboardEvent, type MouseEvent } from "react";

import type { Segment } from "@/api/types";
import { ScoreBars } from "@/components/ScoreBars";
import { EMOTIONS, emotionName } from "@/lib/emotions";
import { clock, percent, tickLabel, ticks } from "@/lib/format";
import { cn } from "@/lib/utils";

interface TimelineChartProps {
  timeline: Segment[];
  duration: number;
  /** The video's playback position, drawn as a line. */
  currentTime?: number;
  onSeek?: (time: number) => void;
}

const W = 1000;
const H = 100;

/** Seconds → x in the SVG's coordinates. */
function scale(t: number, length: number): number {
  return (Math.min(Math.max(t, 0), length) / length) * W;
}

function describe(segment: Segment): string {
  const span = `${clock(segment.start)} to ${clock(segment.end)}`;
  if (!segment.scores || !segment.emotion) return `${span}: nothing could be read (no face found)`;
  return `${span}: ${emotionName(segment.emotion)} ${percent(segment.confidence)}`;
}

/** The stacked bars themselves: the costly part to draw (600 segments for 10 minutes), redrawn only for a new answer. */
const StackedSegments = memo(function StackedSegments({ timeline, length }: { timeline: Segment[]; length: number }) {
  return (
    <>
      {timeline.map((segment, i) => {
        const x0 = scale(segment.start, length);
        const width = Math.max(scale(segment.end, length) - x0, 0.5);
        if (!segment.scores) return <rect key={i} x={x0} y={0} width={width} height={H} className="fill-muted" />;
        let y = H;
        return (
          <g key={i}>
            {EMOTIONS.map((emotion) => {
              const h = (segment.scores?.[emotion.abbr] ?? 0) * H;
              y -= h;
              return <rect key={emotion.abbr} x={x0} y={y} width={width + 0.3} height={h} fill={emotion.color} />;
            })}
          </g>
        );
      })}
    </>
  );
});

/**
 * Six scores per segment, stacked, over the clip's length. Hover shows a segment's scores; a click
 * plays the video from that instant. Keyboard: arrow keys (Page Up/Down by ten, Home/End) choose a
 * segment, Enter or Space plays from it. A table of the same numbers is one click away.
 */
export function TimelineChart({ timeline, duration, currentTime, onSeek }: TimelineChartProps) {
  const [hover, setHover] = useState<number | null>(null);
  const [focus, setFocus] = useState<number | null>(null);
  const helpId = useId();
  const length = duration > 0 ? duration : (timeline.at(-1)?.end ?? 1);
  const x = (t: number) => scale(t, length);

  const indexAt = (t: number) => {
    const i = timeline.findIndex((s) => t >= s.start && t < s.end);
    return i >= 0 ? i : t >= length ? timeline.length - 1 : 0;
  };

  const timeFromMouse = (event: MouseEvent<HTMLDivElement>): number | null => {
    const box = event.currentTarget.getBoundingClientRect();
    if (box.width <= 0) return null;
    return (Math.min(Math.max(event.clientX - box.left, 0), box.width) / box.width) * length;
  };

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (!timeline.length) return;
    const at = focus ?? hover ?? 0;
    const moves: Record<string, number> = {
      ArrowRight: at + 1,
      ArrowLeft: at - 1,
      PageDown: at + 10,
      PageUp: at - 10,
      Home: 0,
      End: timeline.length - 1,
    };
    if (event.key in moves) {
      event.preventDefault();
      setHover(null);
      setFocus(Math.min(Math.max(moves[event.key] ?? 0, 0), timeline.length - 1));
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      const segment = timeline[at];
      if (segment) onSeek?.(segment.start);
      setFocus(at);
    }
  };

  const active = hover ?? focus;
  const activeSegment = active !== null ? timeline[active] : undefined;
  const left = activeSegment ? ((x(activeSegment.start) + x(activeSegment.end)) / 2 / W) * 100 : 0;

  return (
    <div className="space-y-2">
      <div
        role="group"
        aria-roledescription="timeline chart"
        aria-label={`Emotion over time, ${timeline.length} segments`}
        aria-describedby={helpId}
        tabIndex={0}
        data-testid="timeline"
        onKeyDown={onKeyDown}
        onMouseMove={(event) => {
          const t = timeFromMouse(event);
          if (t !== null) setHover(indexAt(t));
        }}
        onMouseLeave={() => setHover(null)}
        onBlur={() => setFocus(null)}
        onClick={(event) => {
          const t = timeFromMouse(event);
          if (t !== null) onSeek?.(t);
        }}
        className="relative h-36 cursor-pointer rounded-md border bg-muted/30 outline-none focus-visible:ring-[3px] focus-visible:ring-ring/50 sm:h-44"
      >
        <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" className="absolute inset-0 size-full rounded-md" aria-hidden="true">
          <StackedSegments timeline={timeline} length={length} />
          {activeSegment && (
            <rect
              x={x(activeSegment.start)}
              y={0}
              width={Math.max(x(activeSegment.end) - x(activeSegment.start), 1)}
              height={H}
              className="fill-white/25 stroke-foreground"
              strokeWidth={2}
              vectorEffect="non-scaling-stroke"
            />
          )}
          {currentTime !== undefined && currentTime > 0 && (
            <line
              x1={x(currentTime)}
              x2={x(currentTime)}
              y1={0}
              y2={H}
              className="stroke-foreground"
              strokeWidth={2}
              vectorEffect="non-scaling-stroke"
              data-testid="playhead"
            />
          )}
        </svg>
        {activeSegment && (
          <div
            data-testid="timeline-tooltip"
            className="pointer-events-none absolute top-2 z-10 w-56 -translate-x-1/2 rounded-md border bg-popover p-2.5 text-popover-foreground shadow-md"
            style={{ left: `${Math.min(Math.max(left, 18), 82)}%` }}
          >
            <p className="mb-1.5 flex justify-between text-xs">
              <span className="font-medium">{activeSegment.emotion ? emotionName(activeSegment.emotion) : "No face found"}</span>
              <span className="text-muted-foreground tabular-nums">
                {clock(activeSegment.start)}–{clock(activeSegment.end)}
              </span>
            </p>
            {activeSegment.scores ? (
              <ScoreBars scores={activeSegment.scores} top={activeSegment.emotion ?? undefined} compact />
            ) : (
              <p className="text-xs text-muted-foreground">Nothing could be read in this part.</p>
            )}
          </div>
        )}
      </div>

      <div className="relative h-4 text-xs text-muted-foreground" aria-hidden="true">
        {ticks(length).map((t) => (
          <span
            key={t}
            className={cn("absolute -translate-x-1/2 whitespace-nowrap tabular-nums", t === 0 && "translate-x-0", t >= length && "-translate-x-full")}
            style={{ left: `${(x(t) / W) * 100}%` }}
          >
            {tickLabel(t, length)}
          </span>
        ))}
      </div>

      <ul className="flex flex-wrap gap-x-4 gap-y-1 text-xs text-muted-foreground" aria-label="Colours">
        {EMOTIONS.map((emotion) => (
          <li key={emotion.abbr} className="flex items-center gap-1.5">
            <span className="size-2.5 rounded-sm" style={{ background: emotion.color }} aria-hidden="true" />
            {emotion.name}
          </li>
        ))}
        <li className="flex items-center gap-1.5">
          <span className="size-2.5 rounded-sm bg-muted ring-1 ring-border" aria-hidden="true" />
          no face
        </li>
      </ul>

      <p id={helpId} className="sr-only">
        Use the arrow keys to move between segments and Enter to play the video from the chosen one.
      </p>
      <p className="sr-only" aria-live="polite" data-testid="timeline-live">
        {focus !== null && timeline[focus] ? describe(timeline[focus]) : ""}
      </p>

      <details className="text-sm">
        <summary className="cursor-pointer text-muted-foreground hover:text-foreground">Show the timeline as a table</summary>
        <div className="mt-2 max-h-64 overflow-auto rounded-md border">
          <table className="w-full text-xs tabular-nums">
            <caption className="sr-only">Scores per segment</caption>
            <thead className="sticky top-0 bg-muted">
              <tr>
                <th scope="col" className="px-2 py-1 text-left font-medium">
                  Time
                </th>
                <th scope="col" className="px-2 py-1 text-left font-medium">
                  Emotion
                </th>
                {EMOTIONS.map((emotion) => (
                  <th key={emotion.abbr} scope="col" className="px-2 py-1 text-right font-medium">
                    <abbr title={emotion.name}>{emotion.abbr}</abbr>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {timeline.map((segment, i) => (
                <tr key={i} className="border-t">
                  <td className="px-2 py-1">
                    <button type="button" className="underline-offset-2 hover:underline" onClick={() => onSeek?.(segment.start)}>
                      {clock(segment.start)}–{clock(segment.end)}
                    </button>
                  </td>
                  <td className="px-2 py-1">{segment.emotion ? emotionName(segment.emotion) : "no face"}</td>
                  {EMOTIONS.map((emotion) => (
                    <td key={emotion.abbr} className="px-2 py-1 text-right">
                      {segment.scores ? percent(segment.scores[emotion.abbr]) : "—"}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </div>
  );
}
