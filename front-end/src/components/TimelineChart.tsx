import { memo, useId, useMemo, useState, type KeyboardEvent, type MouseEvent } from "react";

import { EXPERT_LABELS, EXPERT_NAMES, hasSegmentExperts, segmentExperts, topOf, type Scores } from "@/api/experts";
import type { Segment } from "@/api/types";
import { ScoreBars } from "@/components/ScoreBars";
import { EMOTIONS, emotionColor, emotionName } from "@/lib/emotions";
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

/** "Happy 80%", or what the lane says where it has nothing ("no face", "no speech"). */
function topText(scores: Scores | null, empty: string): string {
  const top = topOf(scores);
  return top ? `${emotionName(top.emotion)} ${percent(top.confidence)}` : empty;
}

function describe(segment: Segment, split: boolean): string {
  const span = `${clock(segment.start)} to ${clock(segment.end)}`;
  if (!split) {
    if (!segment.scores || !segment.emotion) return `${span}: nothing could be read (no face found)`;
    return `${span}: ${emotionName(segment.emotion)} ${percent(segment.confidence)}`;
  }
  const experts = segmentExperts(segment);
  const parts = EXPERT_NAMES.map((name) =>
    experts[name] ? `${EXPERT_LABELS[name].name.toLowerCase()}: ${topText(experts[name], "")}` : EXPERT_LABELS[name].empty,
  );
  if (!segment.scores || !segment.emotion) return `${span}: nothing could be read (${parts.join(", ")})`;
  return `${span}: ${emotionName(segment.emotion)} ${percent(segment.confidence)} (${parts.join(", ")})`;
}

type LaneKey = "fused" | "face" | "voice";

const LANES: Array<{ key: LaneKey; name: string; empty: string; found: string }> = [
  { key: "fused", name: "Fused", empty: "nothing read", found: "scored" },
  { key: "face", name: "Face", empty: "no face", found: "a face" },
  { key: "voice", name: "Voice", empty: "no speech", found: "speech" },
];

function laneScores(segment: Segment, lane: LaneKey): Scores | null {
  return lane === "fused" ? (segment.scores ?? null) : segmentExperts(segment)[lane];
}

/** How strongly a lane's cell is coloured: a sure answer (1) fully, a near-uniform guess (1/6) faintly. */
function strength(confidence: number): number {
  const sure = Math.min(Math.max((confidence - 1 / 6) / (5 / 6), 0), 1);
  return Math.round(30 + 70 * sure);
}

const LANE_H = 10;

/** One lane's cells: the top class's colour, paler where less sure; nothing (the hatched lane shows) where it is null. */
const LaneCells = memo(function LaneCells({ timeline, length, lane }: { timeline: Segment[]; length: number; lane: LaneKey }) {
  return (
    <>
      {timeline.map((segment, i) => {
        const top = topOf(laneScores(segment, lane));
        if (!top) return null;
        const x0 = scale(segment.start, length);
        const width = Math.max(scale(segment.end, length) - x0, 0.5);
        return (
          <rect
            key={i}
            x={x0}
            y={0}
            width={width + 0.3}
            height={LANE_H}
            style={{ fill: `color-mix(in oklch, ${emotionColor(top.emotion)} ${strength(top.confidence)}%, var(--card))` }}
            data-emotion={top.emotion}
            data-confidence={top.confidence.toFixed(3)}
          />
        );
      })}
    </>
  );
});

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

/** A lane's place on screen: where the active segment and the playhead are, drawn over its cells. */
function LaneMarks({ active, playhead }: { active: [number, number] | null; playhead: number | null }) {
  return (
    <>
      {active && (
        <rect
          x={active[0]}
          y={0}
          width={Math.max(active[1] - active[0], 1)}
          height={LANE_H}
          className="fill-none stroke-foreground"
          strokeWidth={2}
          vectorEffect="non-scaling-stroke"
        />
      )}
      {playhead !== null && (
        <line x1={playhead} x2={playhead} y1={0} y2={LANE_H} className="stroke-foreground" strokeWidth={2} vectorEffect="non-scaling-stroke" />
      )}
    </>
  );
}

/**
 * Six scores per segment, stacked, over the clip's length. Hover shows a segment's scores; a click
 * plays the clip from that instant. Keyboard: arrow keys (Page Up/Down by ten, Home/End) choose a
 * segment, Enter or Space plays from it. A table of the same numbers is one click away.
 *
 * For the default model's answers, whose segments say what the face and the voice experts each
 * read, three lanes follow under the chart (fused, face, voice), one cell per segment coloured by
 * that lane's top class and paler where it is less sure, hatched where it had nothing.
 */
export function TimelineChart({ timeline, duration, currentTime, onSeek }: TimelineChartProps) {
  const [hover, setHover] = useState<number | null>(null);
  const [focus, setFocus] = useState<number | null>(null);
  const helpId = useId();
  const length = duration > 0 ? duration : (timeline.at(-1)?.end ?? 1);
  const x = (t: number) => scale(t, length);
  const split = useMemo(() => timeline.some(hasSegmentExperts), [timeline]);
  const counts = useMemo(
    () => Object.fromEntries(LANES.map((lane) => [lane.key, timeline.filter((s) => laneScores(s, lane.key) !== null).length])),
    [timeline],
  );

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
  const activeExperts = activeSegment && split ? segmentExperts(activeSegment) : null;
  const left = activeSegment ? ((x(activeSegment.start) + x(activeSegment.end)) / 2 / W) * 100 : 0;
  const activeSpan: [number, number] | null = activeSegment ? [x(activeSegment.start), x(activeSegment.end)] : null;
  const playhead = currentTime !== undefined && currentTime > 0 ? x(currentTime) : null;

  return (
    <div className="space-y-2">
      <div
        role="group"
        aria-roledescription="timeline chart"
        aria-label={`Emotion over time${split ? ", face and voice pooled" : ""}, ${timeline.length} segments`}
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
        className="relative cursor-pointer rounded-md border bg-muted/30 outline-none focus-visible:ring-[3px] focus-visible:ring-ring/50"
      >
        <div className="relative h-36 sm:h-44">
          <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" className={cn("absolute inset-0 size-full", split ? "rounded-t-md" : "rounded-md")} aria-hidden="true">
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
            {playhead !== null && (
              <line
                x1={playhead}
                x2={playhead}
                y1={0}
                y2={H}
                className="stroke-foreground"
                strokeWidth={2}
                vectorEffect="non-scaling-stroke"
                data-testid="playhead"
              />
            )}
          </svg>
        </div>

        {split && (
          <div className="space-y-1 border-t pt-1 pb-1.5" data-testid="timeline-lanes">
            {LANES.map((lane) => (
              <div key={lane.key} data-testid={`lane-${lane.key}`}>
                <p className="flex justify-between gap-2 px-1.5 pb-0.5 text-[11px] leading-4 text-muted-foreground">
                  <span className="font-medium text-foreground">{lane.name}</span>
                  <span className="tabular-nums" data-testid={`lane-${lane.key}-count`}>
                    {lane.found} in {counts[lane.key]} of {timeline.length}
                  </span>
                </p>
                <div className="hatched relative h-3.5" aria-hidden="true">
                  <svg viewBox={`0 0 ${W} ${LANE_H}`} preserveAspectRatio="none" className="absolute inset-0 size-full">
                    <LaneCells timeline={timeline} length={length} lane={lane.key} />
                    <LaneMarks active={activeSpan} playhead={playhead} />
                  </svg>
                </div>
              </div>
            ))}
          </div>
        )}

        {activeSegment && (
          <div
            data-testid="timeline-tooltip"
            className="pointer-events-none absolute top-2 z-10 w-56 -translate-x-1/2 rounded-md border bg-popover p-2.5 text-popover-foreground shadow-md"
            style={{ left: `${Math.min(Math.max(left, 18), 82)}%` }}
          >
            <p className="mb-1.5 flex justify-between text-xs">
              <span className="font-medium">
                {activeSegment.emotion ? emotionName(activeSegment.emotion) : split ? "Nothing read" : "No face found"}
              </span>
              <span className="text-muted-foreground tabular-nums">
                {clock(activeSegment.start)}–{clock(activeSegment.end)}
              </span>
            </p>
            {activeSegment.scores ? (
              <ScoreBars scores={activeSegment.scores} top={activeSegment.emotion ?? undefined} compact />
            ) : (
              <p className="text-xs text-muted-foreground">Nothing could be read in this part.</p>
            )}
            {activeExperts && (
              <div className="mt-2 space-y-0.5 border-t pt-1.5 text-xs">
                <dl className="space-y-0.5">
                  {EXPERT_NAMES.map((name) => (
                    <div key={name} className="flex justify-between gap-2" data-testid={`tooltip-${name}`}>
                      <dt className="text-muted-foreground">{EXPERT_LABELS[name].name}</dt>
                      <dd className="tabular-nums">{topText(activeExperts[name], EXPERT_LABELS[name].empty)}</dd>
                    </div>
                  ))}
                </dl>
                {activeExperts.agree === false && (
                  <p className="font-medium" data-testid="tooltip-disagree">
                    Face and voice disagree here
                  </p>
                )}
                {activeExperts.dominant && activeExperts.face && activeExperts.voice && (
                  <p className="text-muted-foreground" data-testid="tooltip-dominant">
                    {EXPERT_LABELS[activeExperts.dominant].name} weighed most here
                  </p>
                )}
              </div>
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
        {split ? (
          <>
            <li className="flex items-center gap-1.5">
              <span className="hatched size-2.5 rounded-sm ring-1 ring-border" aria-hidden="true" />
              lane hatched: no face / no speech
            </li>
            <li>paler cell: less sure</li>
          </>
        ) : (
          <li className="flex items-center gap-1.5">
            <span className="size-2.5 rounded-sm bg-muted ring-1 ring-border" aria-hidden="true" />
            no face
          </li>
        )}
      </ul>

      <p id={helpId} className="sr-only">
        Use the arrow keys to move between segments and Enter to play the clip from the chosen one.
      </p>
      <p className="sr-only" aria-live="polite" data-testid="timeline-live">
        {focus !== null && timeline[focus] ? describe(timeline[focus], split) : ""}
      </p>

      <details className="text-sm">
        <summary className="cursor-pointer text-muted-foreground hover:text-foreground">Show the timeline as a table</summary>
        <div className="mt-2 max-h-64 overflow-auto rounded-md border">
          <table className="w-full text-xs tabular-nums">
            <caption className="sr-only">Scores per segment{split ? ", with what the face and the voice each read" : ""}</caption>
            <thead className="sticky top-0 bg-muted">
              <tr>
                <th scope="col" className="px-2 py-1 text-left font-medium">
                  Time
                </th>
                <th scope="col" className="px-2 py-1 text-left font-medium">
                  {split ? "Fused" : "Emotion"}
                </th>
                {split &&
                  EXPERT_NAMES.map((name) => (
                    <th key={name} scope="col" className="px-2 py-1 text-left font-medium whitespace-nowrap">
                      {EXPERT_LABELS[name].name}
                    </th>
                  ))}
                {EMOTIONS.map((emotion) => (
                  <th key={emotion.abbr} scope="col" className="px-2 py-1 text-right font-medium">
                    <abbr title={emotion.name}>{emotion.abbr}</abbr>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {timeline.map((segment, i) => {
                const experts = split ? segmentExperts(segment) : null;
                return (
                  <tr key={i} className="border-t">
                    <td className="px-2 py-1">
                      <button type="button" className="underline-offset-2 hover:underline" onClick={() => onSeek?.(segment.start)}>
                        {clock(segment.start)}–{clock(segment.end)}
                      </button>
                    </td>
                    <td className="px-2 py-1">{segment.emotion ? emotionName(segment.emotion) : split ? "nothing read" : "no face"}</td>
                    {experts &&
                      EXPERT_NAMES.map((name) => (
                        <td key={name} className="px-2 py-1 whitespace-nowrap" data-testid={`table-${name}`}>
                          {topText(experts[name], EXPERT_LABELS[name].empty)}
                        </td>
                      ))}
                    {EMOTIONS.map((emotion) => (
                      <td key={emotion.abbr} className="px-2 py-1 text-right">
                        {segment.scores ? percent(segment.scores[emotion.abbr]) : "—"}
                      </td>
                    ))}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </details>
    </div>
  );
}
