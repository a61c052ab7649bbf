import { useId, useState } from "react";

import { Label } from "@/components/ui/label";
import { Slider } from "@/components/ui/slider";

interface SampleFramesProps {
  value: number;
  onChange: (value: number) => void;
  max: number;
  disabled?: boolean;
  /** A trained checkpoint reads a fixed number of frames per window and ignores this setting. */
  fixedByModel?: boolean;
}

/** How many frames the model looks at (the API's `sample_frames`). */
export function SampleFrames({ value, onChange, max, disabled, fixedByModel }: SampleFramesProps) {
  const id = useId();
  const hint = useId();
  const clamp = (n: number) => Math.min(Math.max(Math.round(n), 1), max);
  // What is typed is kept as typed (an empty box while retyping is fine); a valid number takes effect
  // at once, and leaving the box shows the value in force again.
  const [text, setText] = useState(String(value));
  return (
    <div className="grid gap-2">
      <div className="flex items-center justify-between gap-3">
        <Label htmlFor={id}>Frames to analyse</Label>
        <input
          id={id}
          type="number"
          inputMode="numeric"
          min={1}
          max={max}
          value={text}
          disabled={disabled}
          aria-describedby={hint}
          onChange={(event) => {
            const raw = event.target.value;
            setText(raw);
            const n = Number(raw);
            if (raw.trim() !== "" && Number.isInteger(n) && n >= 1 && n <= max) onChange(n);
          }}
          onBlur={() => setText(String(value))}
          className="h-8 w-20 rounded-md border bg-background px-2 text-right text-sm tabular-nums shadow-xs focus-visible:ring-[3px] focus-visible:ring-ring/50 focus-visible:outline-none"
        />
      </div>
      <Slider
        min={1}
        max={max}
        step={1}
        value={[value]}
        onValueChange={([n]) => {
          if (n === undefined) return;
          onChange(clamp(n));
          setText(String(clamp(n)));
        }}
        disabled={disabled}
        thumbLabel="Frames to analyse"
      />
      <p id={hint} className="text-xs text-muted-foreground">
        {fixedByModel
          ? "The trained model reads a fixed number of frames per window; this setting does not change its answer."
          : `Spread evenly over the clip (1–${max}). More frames: a finer reading, a slower answer. Long videos are always read at least twice a second.`}
      </p>
    </div>
  );
}
