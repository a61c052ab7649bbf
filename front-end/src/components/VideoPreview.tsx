import { FileWarning } from "lucide-react";
import { forwardRef, useEffect, useState } from "react";

import { bytes } from "@/lib/format";

interface VideoPreviewProps {
  file: File;
  onTime?: (seconds: number) => void;
}

/** The chosen or recorded clip, playable. Formats the browser cannot play (AVI, FLV) can still be analysed. */
export const VideoPreview = forwardRef<HTMLVideoElement, VideoPreviewProps>(function VideoPreview({ file, onTime }, ref) {
  const [url, setUrl] = useState<string | null>(null);
  const [unplayable, setUnplayable] = useState(false);

  useEffect(() => {
    const objectUrl = URL.createObjectURL(file);
    setUrl(objectUrl);
    setUnplayable(false);
    return () => URL.revokeObjectURL(objectUrl);
  }, [file]);

  return (
    <figure className="space-y-2">
      <div className="relative aspect-video overflow-hidden rounded-lg bg-black">
        {url && (
          <video
            ref={ref}
            key={url}
            src={url}
            controls
            playsInline
            preload="metadata"
            className={unplayable ? "hidden" : "size-full object-contain"}
            aria-label={`Preview of ${file.name}`}
            data-testid="preview"
            onError={() => setUnplayable(true)}
            onTimeUpdate={(event) => onTime?.(event.currentTarget.currentTime)}
            onSeeked={(event) => onTime?.(event.currentTarget.currentTime)}
          />
        )}
        {unplayable && (
          <div className="flex size-full flex-col items-center justify-center gap-2 p-4 text-center text-sm text-white/80">
            <FileWarning className="size-8" aria-hidden="true" />
            This browser cannot play this file. It can still be sent for analysis.
          </div>
        )}
      </div>
      <figcaption className="flex justify-between gap-3 text-sm text-muted-foreground">
        <span className="truncate" title={file.name}>
          {file.name}
        </span>
        <span className="shrink-0 tabular-nums">{bytes(file.size)}</span>
      </figcaption>
    </figure>
  );
});
