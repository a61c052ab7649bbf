import { AlertCircle, RotateCcw } from "lucide-react";

import { describeError } from "@/api/errors";
import { Alert, AlertDescription, AlertTitle } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";

interface ErrorNoticeProps {
  error: unknown;
  maxUploadMb?: number;
  onRetry?: () => void;
}

/** A failed call told in a sentence, with what to do, and "Try again" where that can help. */
export function ErrorNotice({ error, maxUploadMb, onRetry }: ErrorNoticeProps) {
  const story = describeError(error, { max_upload_mb: maxUploadMb });
  return (
    <Alert variant="destructive" data-testid="error">
      <AlertCircle aria-hidden="true" />
      <AlertTitle className="line-clamp-none">{story.title}</AlertTitle>
      <AlertDescription>
        <p>{story.action}</p>
        {story.detail && <p className="text-xs text-muted-foreground">Server: {story.detail}</p>}
        {story.retry && onRetry && (
          <Button type="button" size="sm" variant="outline" className="mt-2" onClick={onRetry}>
            <RotateCcw /> Try again
          </Button>
        )}
      </AlertDescription>
    </Alert>
  );
}
