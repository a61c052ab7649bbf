/** Every way a call can fail, told as a sentence and what to do about it. */
import { ApiError } from "./client";

export interface ErrorStory {
  title: string;
  /** What to do next. */
  action: string;
  /** The server's own words, when it sent any. */
  detail?: string;
  /** Whether trying the same thing again can work. */
  retry: boolean;
}

export function describeError(error: unknown, limits?: { max_upload_mb?: number }): ErrorStory {
  if (!(error instanceof ApiError)) {
    return {
      title: "Something went wrong in the page.",
      action: "Reload the page and try again.",
      detail: error instanceof Error ? error.message : undefined,
      retry: true,
    };
  }
  const detail = error.status === 0 ? undefined : error.message;
  switch (error.code) {
    case "network":
      return {
        title: "The analysis service cannot be reached.",
        action: "Check that the back-end is running (make run starts it) and that you are online, then try again.",
        retry: true,
      };
    case "too_large":
      return {
        title: "This file is too large to upload.",
        action: `Send a shorter or more compressed clip${limits?.max_upload_mb ? ` (up to ${limits.max_upload_mb} MB)` : ""}.`,
        detail,
        retry: false,
      };
    case "unsupported_media_type":
      return {
        title: "That file is not a video, an audio recording or a photo the service can read.",
        action:
          "Choose a video (MP4, MOV, WebM, MKV or AVI), an audio recording (WAV, MP3, FLAC, M4A, Ogg or Opus) or a photo (JPEG, PNG or WebP; a trained model reads video only).",
        detail,
        retry: false,
      };
    case "not_video":
      return {
        title: "The model being served needs a video, and this file has no picture.",
        action: "Choose a video file (MP4, MOV, WebM, MKV or AVI): this model reads the face and the voice together.",
        detail,
        retry: false,
      };
    case "empty":
      return { title: "The file is empty.", action: "Choose another file.", detail, retry: false };
    case "undecodable":
      return {
        title: "The file could not be decoded.",
        action: "It may be damaged or cut short: export it again or try another file.",
        detail,
        retry: false,
      };
    case "too_long":
      return { title: "The clip is too long.", action: "Trim it and send a shorter part.", detail, retry: false };
    case "too_short":
      return { title: "The clip is too short.", action: "Send a clip of at least a second.", detail, retry: false };
    case "frame_too_large":
      return {
        title: "The picture is too large.",
        action: "Export the video at 4K or lower (1080p is plenty), or send the photo at a smaller size, and try again.",
        detail,
        retry: false,
      };
    case "no_signal":
      return {
        title: "No face or voice could be found in this clip.",
        action: "Use a clip where one face is clearly visible, well lit and facing the camera, or where someone speaks.",
        detail,
        retry: false,
      };
    case "invalid_request":
      return { title: "The request was not accepted.", action: "Check the settings and try again.", detail, retry: true };
    case "unauthorized":
      return {
        title: "The service needs an API key.",
        action: "Ask its operator for access; this page does not send a key by default.",
        detail,
        retry: false,
      };
    case "busy":
      return {
        title: "The service is busy with other videos.",
        action: error.retryAfterS ? `Try again in ${error.retryAfterS} seconds.` : "Try again in a few seconds.",
        detail,
        retry: true,
      };
    case "unavailable":
      return {
        title: "The analysis service is not answering right now.",
        action: "It may be starting or restarting: try again in a few seconds.",
        detail,
        retry: true,
      };
    case "upload_timeout":
      return {
        title: "The upload was too slow and was stopped.",
        action: "Check your connection, or send a shorter or more compressed clip, and try again.",
        detail,
        retry: true,
      };
    case "timeout":
      return {
        title: "The analysis took too long and was stopped.",
        action: "Send a shorter clip, or fewer frames to analyse.",
        detail,
        retry: false,
      };
    default:
      return {
        title: error.status >= 500 ? "The service had a problem with this request." : "The request failed.",
        action: "Try again; if it keeps happening, tell the service's operator.",
        detail,
        retry: true,
      };
  }
}
