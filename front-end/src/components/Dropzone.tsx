import { FileAudio, FileVideo, Upload } from "lucide-react";
import { useId, useRef, useState, type DragEvent } from "react";

import { Button } from "@/components/ui/button";
import { ACCEPT } from "@/lib/media";
import { cn } from "@/lib/utils";

interface DropzoneProps {
  onFile: (file: File) => void;
  maxUploadMb?: number;
  disabled?: boolean;
}

/**
 * Drop a file or pick one: a video, or an audio recording (a voice memo). Any file is handed on:
 * the service decides from its bytes what it is.
 */
export function Dropzone({ onFile, maxUploadMb, disabled }: DropzoneProps) {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState<false | "video" | "audio">(false);
  const hintId = useId();
  const inputId = useId();

  const take = (files: FileList | null) => {
    const file = files?.[0];
    if (file) onFile(file);
  };

  const onDrop = (event: DragEvent<HTMLDivElement>) => {
    event.preventDefault();
    setOver(false);
    if (!disabled) take(event.dataTransfer.files);
  };

  return (
    <div
      data-testid="dropzone"
      onDragOver={(event) => {
        event.preventDefault();
        if (!disabled) setOver(event.dataTransfer?.items?.[0]?.type.startsWith("audio/") ? "audio" : "video");
      }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
      className={cn(
        "flex flex-col items-center justify-center gap-3 rounded-lg border-2 border-dashed px-4 py-10 text-center transition-colors",
        over ? "border-primary bg-primary/5" : "border-border bg-muted/30",
        disabled && "opacity-60",
      )}
    >
      <div className="flex size-12 items-center justify-center rounded-full bg-primary/10 text-primary" aria-hidden="true">
        {over === "audio" ? <FileAudio className="size-6" /> : over ? <FileVideo className="size-6" /> : <Upload className="size-6" />}
      </div>
      <div className="space-y-1">
        <p className="font-medium">
          {over ? (
            `Drop to use this ${over === "audio" ? "recording" : "file"}`
          ) : (
            <>
              <span className="pointer-coarse:hidden">Drag a video or an audio recording here</span>
              <span className="hidden pointer-coarse:inline">Pick a video or an audio recording from this device</span>
            </>
          )}
        </p>
        <p id={hintId} className="text-sm text-muted-foreground">
          Video (MP4, MOV, WebM, MKV or AVI) or audio (WAV, MP3, FLAC, M4A, Ogg or Opus)
          {maxUploadMb ? `, up to ${maxUploadMb} MB` : ""}. A few seconds of one face, or of one voice speaking, work best.
        </p>
      </div>
      <label htmlFor={inputId} className="sr-only">
        Choose a video or audio file
      </label>
      <input
        id={inputId}
        ref={input}
        type="file"
        accept={ACCEPT}
        className="sr-only"
        tabIndex={-1}
        disabled={disabled}
        aria-describedby={hintId}
        onChange={(event) => {
          take(event.target.files);
          event.target.value = ""; // choosing the same file again still fires
        }}
      />
      <Button type="button" variant="outline" disabled={disabled} onClick={() => input.current?.click()} aria-describedby={hintId}>
        <Upload /> Choose a file
      </Button>
    </div>
  );
}
