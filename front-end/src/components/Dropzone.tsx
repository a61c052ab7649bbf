import { FileAudio, FileImage, FileVideo, Upload } from "lucide-react";
import { useId, useRef, useState, type DragEvent } from "react";

import { Button } from "@/components/ui/button";
import { acceptList } from "@/lib/media";
import { cn } from "@/lib/utils";

interface DropzoneProps {
  onFile: (file: File) => void;
  maxUploadMb?: number;
  disabled?: boolean;
  /** Whether the served model reads photos (the default model does; a trained checkpoint does not). */
  photos?: boolean;
}

type Over = false | "video" | "audio" | "image";

function kindOf(type: string | undefined): Over {
  if (type?.startsWith("audio/")) return "audio";
  if (type?.startsWith("image/")) return "image";
  return "video";
}

/**
 * Drop a file or pick one: a video, an audio recording (a voice memo) or, where the model reads them,
 * a photo. Any file is handed on: the service decides from its bytes what it is.
 */
export function Dropzone({ onFile, maxUploadMb, disabled, photos = true }: DropzoneProps) {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState<Over>(false);
  const what = photos ? "a video, an audio recording or a photo" : "a video or an audio recording";
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
        if (!disabled) setOver(kindOf(event.dataTransfer?.items?.[0]?.type));
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
        {over === "audio" ? (
          <FileAudio className="size-6" />
        ) : over === "image" ? (
          <FileImage className="size-6" />
        ) : over ? (
          <FileVideo className="size-6" />
        ) : (
          <Upload className="size-6" />
        )}
      </div>
      <div className="space-y-1">
        <p className="font-medium">
          {over ? (
            `Drop to use this ${over === "audio" ? "recording" : over === "image" ? "photo" : "file"}`
          ) : (
            <>
              <span className="pointer-coarse:hidden">Drag {what} here</span>
              <span className="hidden pointer-coarse:inline">Pick {what} from this device</span>
            </>
          )}
        </p>
        <p id={hintId} className="text-sm text-muted-foreground">
          Video (MP4, MOV, WebM, MKV or AVI){photos ? ", audio (WAV, MP3, FLAC, M4A, Ogg or Opus) or a photo (JPEG, PNG or WebP)" : " or audio (WAV, MP3, FLAC, M4A, Ogg or Opus)"}
          {maxUploadMb ? `, up to ${maxUploadMb} MB` : ""}. A few seconds of one face, or of one voice speaking, work best{photos ? "; a photo is read from the face" : ""}.
        </p>
      </div>
      <label htmlFor={inputId} className="sr-only">
        {photos ? "Choose a video, audio file or photo" : "Choose a video or audio file"}
      </label>
      <input
        id={inputId}
        ref={input}
        type="file"
        accept={acceptList(photos)}
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
