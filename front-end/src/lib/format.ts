export function percent(p: number | null | undefined, digits = 0): string {
  if (p === null || p === undefined || Number.isNaN(p)) return "—";
  return `${(p * 100).toFixed(digits)}%`;
}

/** 75.25 → "1:15.3"; under a minute → "15.3 s". */
export function seconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  const rest = s - m * 60;
  return `${m}:${rest.toFixed(1).padStart(4, "0")}`;
}

/** An axis label: "1.5 s" on clips under a minute, "2:05" on longer ones. */
export function tickLabel(t: number, duration: number): string {
  return duration < 60 ? `${Number(t.toFixed(1))} s` : clock(t);
}

/** A point in a clip: "0:05". */
export function clock(s: number): string {
  const m = Math.floor(s / 60);
  const sec = Math.floor(s - m * 60);
  return `${m}:${String(sec).padStart(2, "0")}`;
}

export function milliseconds(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/** The API counts upload limits in MiB ("MB" on screen, as the API's messages say). */
export const MIB = 1024 * 1024;

const TICK_STEPS = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600];

/** Axis ticks from 0 to ``duration`` at a round step, at most ``maxTicks`` + 1 of them. */
export function ticks(duration: number, maxTicks = 8): number[] {
  const step = TICK_STEPS.find((s) => duration / s <= maxTicks) ?? Math.ceil(duration / maxTicks);
  const out: number[] = [];
  for (let t = 0; t <= duration + 1e-9; t += step) out.push(Number(t.toFixed(3)));
  return out;
}
