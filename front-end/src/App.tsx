import { Moon, RefreshCw, Sun } from "lucide-react";
import { useCallback, useRef, useState } from "react";

import { ApiError } from "@/api/client";
import { modelExperts } from "@/api/experts";
import { AnalysisProgress } from "@/components/AnalysisProgress";
import { Dropzone } from "@/components/Dropzone";
import { HowItWorks } from "@/components/HowItWorks";
import { ErrorNotice } from "@/components/ErrorNotice";
import { RecordPanel } from "@/components/RecordPanel";
import { ResultSummary } from "@/components/ResultSummary";
import { SampleFrames } from "@/components/SampleFrames";
import { ScoreBars } from "@/components/ScoreBars";
import { TimelineChart } from "@/components/TimelineChart";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Tabs, TabsContent, TabsList, TabsTrigger } from "@/components/ui/tabs";
import { VideoPreview } from "@/components/VideoPreview";
import { useAnalysis } from "@/hooks/useAnalysis";
import { useServiceInfo } from "@/hooks/useServiceInfo";
import { useTheme } from "@/hooks/useTheme";
import { MIB } from "@/lib/format";
import { isAudioFile, isImageFile } from "@/lib/media";

const DEFAULT_SAMPLE_FRAMES = 32;

export default function App() {
  const { theme, toggle } = useTheme();
  const service = useServiceInfo();
  const analysis = useAnalysis();
  const [clip, setClip] = useState<File | null>(null);
  const [source, setSource] = useState<"upload" | "record">("upload");
  const [sampleFrames, setSampleFrames] = useState(DEFAULT_SAMPLE_FRAMES);
  const [currentTime, setCurrentTime] = useState(0);
  const [localError, setLocalError] = useState<unknown>(null);
  const player = useRef<HTMLMediaElement>(null);

  const limits = service.info?.limits;
  const maxFrames = limits?.max_sample_frames ?? 256;
  const { state, busy } = analysis;

  const choose = useCallback(
    (file: File) => {
      analysis.reset();
      setCurrentTime(0);
      setClip(file);
      setLocalError(
        limits && file.size > limits.max_upload_mb * MIB
          ? new ApiError(413, "too_large", `The file is ${(file.size / MIB).toFixed(1)} MB; the limit is ${limits.max_upload_mb} MB.`)
          : null,
      );
    },
    [analysis, limits],
  );

  const start = useCallback(() => {
    if (clip && !localError) void analysis.run(clip, clip.name, sampleFrames);
  }, [analysis, clip, localError, sampleFrames]);

  const seek = useCallback((t: number) => {
    const element = player.current;
    if (!element) return;
    element.currentTime = t;
    setCurrentTime(t);
    try {
      void Promise.resolve(element.play()).catch(() => undefined);
    } catch {
      // a browser (or jsdom) that cannot play: the position is set all the same
    }
  }, []);

  const result = state.status === "done" ? state.result : null;
  // A photo, by the file's type or name: shown as a picture, read by the face alone, nothing over time.
  const photo = !!clip && isImageFile(clip);
  // Sound only: by the file's type or name, or because the service found no picture in it.
  const audioOnly = !!clip && !photo && (isAudioFile(clip) || result?.modalities.available.video === false);
  // The default model reads photos; a checkpoint does not (an older service does not say: assume it does).
  const photos = service.info?.photos ?? true;
  const error = localError ?? (state.status === "error" ? state.error : null);

  return (
    <div className="min-h-dvh">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:top-2 focus:left-2 focus:z-50 focus:rounded-md focus:bg-background focus:px-3 focus:py-2">
        Skip to content
      </a>
      <header className="border-b bg-card/60 backdrop-blur">
        <div className="mx-auto flex max-w-6xl items-center justify-between gap-3 px-4 py-3">
          <div className="flex min-w-0 items-center gap-3">
            <img src="/favicon.svg" alt="" className="size-8" />
            <div className="min-w-0">
              <h1 className="text-lg leading-tight font-semibold">mmer</h1>
              <p className="truncate text-xs text-muted-foreground">Emotion in face and voice</p>
            </div>
          </div>
          <div className="flex items-center gap-2">
            {service.info && (
              <Badge variant="outline" className="hidden sm:inline-flex" data-testid="service-model">
                {service.info.model.kind === "checkpoint"
                  ? "Trained model"
                  : modelExperts(service.info.model)
                    ? "Default face + voice model"
                    : "Default face model"}
                : {service.info.model.name}
              </Badge>
            )}
            <Button
              variant="ghost"
              size="icon"
              onClick={toggle}
              aria-label={theme === "dark" ? "Switch to light theme" : "Switch to dark theme"}
              aria-pressed={theme === "dark"}
            >
              {theme === "dark" ? <Sun /> : <Moon />}
            </Button>
          </div>
        </div>
      </header>

      <main id="main" className="mx-auto grid max-w-6xl gap-6 px-4 py-6 lg:grid-cols-[minmax(0,7fr)_minmax(0,5fr)]">
        {service.error !== null && !service.info && (
          <div className="lg:col-span-2" data-testid="service-error">
            <ErrorNotice error={service.error} onRetry={service.reload} />
          </div>
        )}

        <Card>
          <CardHeader>
            <CardTitle>Your clip</CardTitle>
            <CardDescription>
              Upload a video, an audio recording{photos ? " or a photo" : ""}, or record a video with your camera, then analyse it.
            </CardDescription>
          </CardHeader>
          <CardContent className="space-y-5">
            {!clip ? (
              <Tabs value={source} onValueChange={(v) => setSource(v as "upload" | "record")}>
                <TabsList aria-label="Where the clip comes from">
                  <TabsTrigger value="upload">Upload</TabsTrigger>
                  <TabsTrigger value="record">Record</TabsTrigger>
                </TabsList>
                <TabsContent value="upload">
                  <Dropzone onFile={choose} maxUploadMb={limits?.max_upload_mb} photos={photos} />
                </TabsContent>
                <TabsContent value="record">
                  <RecordPanel onRecorded={choose} />
                </TabsContent>
              </Tabs>
            ) : (
              <>
                <VideoPreview ref={player} file={clip} audio={audioOnly} image={photo} onTime={setCurrentTime} />
                {result && !photo && (
                  <section aria-labelledby="timeline-heading" className="space-y-2">
                    <h2 id="timeline-heading" className="text-sm font-medium">
                      Over time <span className="font-normal text-muted-foreground">— hover for scores, click to play from there</span>
                    </h2>
                    <TimelineChart timeline={result.timeline} duration={result.duration_s} currentTime={currentTime} onSeek={seek} />
                  </section>
                )}
                {!photo && (
                  <SampleFrames
                    value={sampleFrames}
                    onChange={setSampleFrames}
                    max={maxFrames}
                    disabled={busy}
                    fixedByModel={service.info?.model.kind === "checkpoint"}
                  />
                )}
                {state.status === "uploading" || state.status === "analysing" ? (
                  <AnalysisProgress state={state} onCancel={analysis.cancel} />
                ) : (
                  <div className="flex flex-wrap gap-2">
                    <Button type="button" onClick={start} disabled={!!localError}>
                      {result ? <RefreshCw /> : null}
                      {result ? "Analyse again" : "Analyse"}
                    </Button>
                    <Button
                      type="button"
                      variant="outline"
                      onClick={() => {
                        analysis.reset();
                        setLocalError(null);
                        setClip(null);
                      }}
                    >
                      {source === "record"
                        ? "Record another"
                        : photo
                          ? "Choose another photo"
                          : audioOnly
                            ? "Choose another recording"
                            : "Choose another video"}
                    </Button>
                  </div>
                )}
                {state.status === "cancelled" && (
                  <p className="text-sm text-muted-foreground" role="status">
                    Analysis cancelled.
                  </p>
                )}
              </>
            )}
          </CardContent>
        </Card>

        <Card aria-live="polite" aria-busy={busy}>
          <CardHeader>
            <CardTitle>Result</CardTitle>
            <CardDescription>
              {result ? "What the model read in this clip." : "Six emotions: neutral, happy, sad, angry, fearful, disgusted."}
            </CardDescription>
          </CardHeader>
          <CardContent className="space-y-6">
            {error !== null ? (
              <ErrorNotice error={error} maxUploadMb={limits?.max_upload_mb} onRetry={localError ? undefined : start} />
            ) : result ? (
              <>
                <ResultSummary result={result} elapsedMs={state.status === "done" ? state.elapsedMs : undefined} photo={photo} />
                <section aria-labelledby="scores-heading" className="space-y-3">
                  <h3 id="scores-heading" className="text-sm font-medium">
                    All six scores
                  </h3>
                  <ScoreBars scores={result.scores} top={result.emotion} />
                </section>
              </>
            ) : busy ? (
              <p className="text-sm text-muted-foreground">The answer appears here when the analysis is done.</p>
            ) : (
              <HowItWorks kind={service.info?.model.kind} experts={!!modelExperts(service.info?.model)} />
            )}
          </CardContent>
        </Card>
      </main>

      <footer className="mx-auto max-w-6xl px-4 pb-8 text-xs text-muted-foreground">
        <p className="flex flex-wrap items-center gap-x-3 gap-y-1">
          <span>mmer {service.info ? `v${service.info.version}` : ""}</span>
          <a className="underline-offset-2 hover:underline" href="/api/docs">
            API documentation
          </a>
          <span>Clips are analysed on the server and not kept.</span>
        </p>
      </footer>
    </div>
  );
}
