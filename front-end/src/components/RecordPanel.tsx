import { Camera, CircleStop, Video } from "lucide-react";
import { useEffect, useId, useRef, useState } from "react";

import { Alert, AlertDescription, AlertTitle } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { Label } from "@/components/ui/label";
import { useRecorder } from "@/hooks/useRecorder";
import { cn } from "@/lib/utils";

const LENGTHS = [3, 5, 10];

interface RecordPanelProps {
  onRecorded: (file: File) => void;
  disabled?: boolean;
}

/** Webcam preview, a length to record, a 3-2-1 countdown and the recording itself. */
export function RecordPanel({ onRecorded, disabled }: RecordPanelProps) {
  const recorder = useRecorder(onRecorded);
  const [length, setLength] = useState(5);
  const video = useRef<HTMLVideoElement>(null);
  const lengthId = useId();

  useEffect(() => {
    if (video.current) video.current.srcObject = recorder.stream;
  }, [recorder.stream]);

  const live = recorder.status === "ready" || recorder.status === "countdown" || recorder.status === "recording";

  return (
    <div className="space-y-4">
      <div className="relative aspect-video overflow-hidden rounded-lg bg-black">
        <video
          ref={video}
          autoPlay
          muted
          playsInline
          aria-label="Camera preview"
          className={cn("size-full -scale-x-100 object-cover", !live && "hidden")}
        />
        {!live && (
          <div className="flex size-full flex-col items-center justify-center gap-2 p-4 text-center text-sm text-white/80">
            <Camera className="size-8" aria-hidden="true" />
            {recorder.status === "starting" ? "Starting the camera…" : "The camera is off."}
          </div>
        )}
        {recorder.status === "countdown" && (
          <div className="absolute inset-0 flex items-center justify-center bg-black/40 text-7xl font-bold text-white" aria-hidden="true">
            {recorder.countdown}
          </div>
        )}
        {recorder.status === "recording" && (
          <div className="absolute top-3 left-3 flex items-center gap-2 rounded-full bg-black/60 px-3 py-1 text-sm font-medium text-white">
            <span className="size-2.5 animate-pulse rounded-full bg-red-500" aria-hidden="true" />
            REC {recorder.remaining} s
          </div>
        )}
      </div>

      <p className="sr-only" aria-live="assertive">
        {recorder.status === "countdown" && `Recording starts in ${recorder.countdown}`}
        {recorder.status === "recording" && `Recording, ${recorder.remaining} seconds left`}
      </p>

      {recorder.error && (
        <Alert variant="destructive">
          <AlertTitle>Recording is not available</AlertTitle>
          <AlertDescription>{recorder.error}</AlertDescription>
        </Alert>
      )}

      <div className="flex flex-wrap items-end gap-3">
        {!live ? (
          <Button type="button" onClick={() => void recorder.open()} disabled={disabled || recorder.status === "starting"}>
            <Camera /> Turn on camera
          </Button>
        ) : (
          <>
            <div className="grid gap-1.5">
              <Label htmlFor={lengthId}>Length</Label>
              <select
                id={lengthId}
                value={length}
                onChange={(event) => setLength(Number(event.target.value))}
                disabled={recorder.status !== "ready"}
                className="h-9 rounded-md border bg-background px-2 text-sm shadow-xs focus-visible:ring-[3px] focus-visible:ring-ring/50 focus-visible:outline-none"
              >
                {LENGTHS.map((s) => (
                  <option key={s} value={s}>
                    {s} seconds
                  </option>
                ))}
              </select>
            </div>
            {recorder.status === "ready" ? (
              <Button type="button" onClick={() => recorder.record(length)} disabled={disabled}>
                <Video /> Record {length} s
              </Button>
            ) : (
              <Button type="button" variant="destructive" onClick={recorder.stop}>
                <CircleStop /> {recorder.status === "countdown" ? "Cancel" : "Stop now"}
              </Button>
            )}
            <Button type="button" variant="ghost" onClick={recorder.close} disabled={recorder.status !== "ready"}>
              Turn off camera
            </Button>
          </>
        )}
      </div>
      <p className="text-sm text-muted-foreground">
        Face the camera in good light. The recording stays in this page until you analyse it.
      </p>
    </div>
  );
}
