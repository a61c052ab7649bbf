import { AudioLines, FileWarning } from "lucide-react";
import { forwardRef, useEffect, useState, type Ref } from "react";

import { bytes } from "@/lib/format";

interface VideoPreviewProps {
  file: File;
  /** Sound only (a voice memo): an audio player instead of the video's picture. */
  audio?: boolean;
  /** A photo: the picture itself (turned upright by the browser, as the service reads it) instead of a player. */
  image?: boolean;
  onTime?: (seconds: number) => void;
}

/**
 * The chosen or recorded clip, playable: a video, or an audio player for a recording without
 * picture; a photo is shown as it is. Formats the browser cannot play or show (AVI, FLV, TIFF)
 * can still be analysed.
 */
export const VideoPreview = forwardRef<HTMLMediaElement, VideoPreviewProps>(function VideoPreview({ file, audio = false, image = false, onTime }, ref) {
  const [url, setUrl] = useState<string | null>(null);
  const [unplayable, setUnplayable] = useState(false);

  useEffect(() => {
    const objectUrl = URL.createObjectURL(file);
    setUrl(objectUrl);
    setUnplayable(false);
    return () => URL.revokeObjectURL(objectUrl);
  }, [file]);

  const media = {
    src: url ?? undefined,
    controls: true,
    preload: "metadata",
    "aria-label": `Preview of ${file.name}`,
    "data-testid": "preview",
    "data-kind": audio ? "audio" : "video",
    onError: () => setUnplayable(true),
    onTimeUpdate: (event: { currentTarget: HTMLMediaElement }) => onTime?.(event.currentTarget.currentTime),
    onSeeked: (event: { currentTarget: HTMLMediaElement }) => onTime?.(event.currentTarget.currentTime),
  } as const;
  const cannotPlay = image
    ? "This browser cannot show this picture. It can still be sent for analysis."
    : audio
      ? "This browser cannot play this recording. It can still be sent for analysis."
      : "This browser cannot play this file. It can still be sent for analysis.";

  return (
    <figure className="space-y-2">
      {image ? (
        <div className="relative aspect-video overflow-hidden rounded-lg bg-black">
          {url && (
            <img
              key={url}
              src={url}
              alt={`Preview of ${file.name}`}
              data-testid="preview"
              data-kind="image"
              onError={() => setUnplayable(true)}
              className={unplayable ? "hidden" : "size-full object-contain"}
            />
          )}
          {unplayable && (
            <div className="flex size-full flex-col items-center justify-center gap-2 p-4 text-center text-sm text-white/80">
              <FileWarning className="size-8" aria-hidden="true" />
              {cannotPlay}
            </div>
          )}
        </div>
      ) : audio ? (
        <div className="flex items-center gap-3 rounded-lg border bg-muted/30 p-4">
          <div className="flex size-10 shrink-0 items-center justify-center rounded-full bg-primary/10 text-primary" aria-hidden="true">
            <AudioLines className="size-5" />
          </div>
          {url && <audio key={url} ref={ref as Ref<HTMLAudioElement>} {...media} className={unplayable ? "hidden" : "w-full min-w-0"} />}
          {unplayable && (
            <p className="flex items-center gap-2 text-sm text-muted-foreground">
              <FileWarning className="size-5 shrink-0" aria-hidden="true" />
              {cannotPlay}
            </p>
          )}
        </div>
      ) : (
        <div className="relative aspect-video overflow-hidden rounded-lg bg-black">
          {url && (
            <video
              key={url}
              ref={ref as Ref<HTMLVideoElement>}
              {...media}
              playsInline
              className={unplayable ? "hidden" : "size-full object-contain"}
            />
          )}
          {unplayable && (
            <div className="flex size-full flex-col items-center justify-center gap-2 p-4 text-center text-sm text-white/80">
              <FileWarning className="size-8" aria-hidden="true" />
              {cannotPlay}
            </div>
          )}
        </div>
      )}
      <figcaption className="flex justify-between gap-3 text-sm text-muted-foreground">
        <span className="truncate" title={file.name}>
          {file.name}
        </span>
        <span className="shrink-0 tabular-nums">{bytes(file.size)}</span>
      </figcaption>
    </figure>
  );
});
