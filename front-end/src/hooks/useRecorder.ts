import { useCallback, useEffect, useRef, useState } from "react";

export type RecorderStatus = "off" | "starting" | "ready" | "countdown" | "recording" | "error";

export interface Recorder {
  status: RecorderStatus;
  stream: MediaStream | null;
  /** Seconds left in the countdown before recording starts. */
  countdown: number;
  /** Seconds of recording left. */
  remaining: number;
  error: string | null;
  open: () => Promise<void>;
  record: (seconds: number) => void;
  stop: () => void;
  close: () => void;
}

const COUNTDOWN_S = 3;
/** Preferred container and codecs, in order; the first the browser can write is used. */
const TYPES = ["video/webm;codecs=vp9,opus", "video/webm;codecs=vp8,opus", "video/webm", "video/mp4"];

function pickType(): string | undefined {
  if (typeof MediaRecorder === "undefined" || typeof MediaRecorder.isTypeSupported !== "function") return undefined;
  return TYPES.find((t) => MediaRecorder.isTypeSupported(t));
}

function explain(error: unknown): string {
  const name = error instanceof DOMException ? error.name : "";
  if (name === "NotAllowedError" || name === "SecurityError")
    return "The browser did not allow the camera. Allow camera and microphone access for this page, then try again.";
  if (name === "NotFoundError" || name === "OverconstrainedError")
    return "No camera was found. Connect one, or upload a video instead.";
  if (name === "NotReadableError") return "The camera is in use by another program. Close it and try again.";
  return "The camera could not be started. Upload a video instead, or try another browser.";
}

/**
 * The webcam and microphone, a countdown, then a recording of a few seconds handed to ``onRecorded``.
 * Recording needs a secure context (https or localhost) and MediaRecorder.
 */
export function useRecorder(onRecorded: (file: File) => void): Recorder {
  const [status, setStatus] = useState<RecorderStatus>("off");
  const [stream, setStream] = useState<MediaStream | null>(null);
  const [countdown, setCountdown] = useState(0);
  const [remaining, setRemaining] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const recorder = useRef<MediaRecorder | null>(null);
  const timers = useRef<number[]>([]);
  const streamRef = useRef<MediaStream | null>(null);
  const callback = useRef(onRecorded);
  useEffect(() => {
    callback.current = onRecorded;
  }, [onRecorded]);

  const clearTimers = () => {
    timers.current.forEach((t) => window.clearInterval(t));
    timers.current = [];
  };

  const close = useCallback(() => {
    clearTimers();
    if (recorder.current && recorder.current.state !== "inactive") {
      recorder.current.ondataavailable = null;
      recorder.current.onstop = null;
      recorder.current.stop();
    }
    recorder.current = null;
    streamRef.current?.getTracks().forEach((track) => track.stop());
    streamRef.current = null;
    setStream(null);
    setStatus("off");
  }, []);

  const open = useCallback(async () => {
    if (!navigator.mediaDevices?.getUserMedia || !pickType()) {
      setError(
        window.isSecureContext
          ? "This browser cannot record video here. Upload a video instead."
          : "Recording needs a secure page (https or localhost). Upload a video instead.",
      );
      setStatus("error");
      return;
    }
    setStatus("starting");
    setError(null);
    try {
      const media = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: "user" },
        audio: true,
      });
      streamRef.current = media;
      setStream(media);
      setStatus("ready");
    } catch (err) {
      setError(explain(err));
      setStatus("error");
    }
  }, []);

  /** Ends a recording early (what was recorded is kept), or calls off a countdown. */
  const stop = useCallback(() => {
    clearTimers();
    if (recorder.current && recorder.current.state !== "inactive") recorder.current.stop();
    else setStatus(streamRef.current ? "ready" : "off");
  }, []);

  const record = useCallback(
    (seconds: number) => {
      const media = streamRef.current;
      if (!media) return;
      setCountdown(COUNTDOWN_S);
      setStatus("countdown");
      let left = COUNTDOWN_S;
      const tick = window.setInterval(() => {
        left -= 1;
        setCountdown(left);
        if (left > 0) return;
        window.clearInterval(tick);
        const mimeType = pickType();
        const rec = new MediaRecorder(media, mimeType ? { mimeType } : undefined);
        const chunks: Blob[] = [];
        rec.ondataavailable = (event) => {
          if (event.data.size > 0) chunks.push(event.data);
        };
        rec.onstop = () => {
          clearTimers();
          const type = rec.mimeType || mimeType || "video/webm";
          const extension = type.includes("mp4") ? "mp4" : "webm";
          const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
          setStatus(streamRef.current ? "ready" : "off");
          if (chunks.length) callback.current(new File(chunks, `recording-${stamp}.${extension}`, { type }));
        };
        recorder.current = rec;
        rec.start(250);
        setStatus("recording");
        setRemaining(seconds);
        let recLeft = seconds;
        const countdownRec = window.setInterval(() => {
          recLeft -= 1;
          setRemaining(Math.max(recLeft, 0));
          if (recLeft <= 0) {
            window.clearInterval(countdownRec);
            if (rec.state !== "inactive") rec.stop();
          }
        }, 1000);
        timers.current.push(countdownRec);
      }, 1000);
      timers.current.push(tick);
    },
    [],
  );

  useEffect(() => close, [close]);

  return { status, stream, countdown, remaining, error, open, record, stop, close };
}
