/**
 * Calls to the mmer API. The page talks to it at `/api` on its own origin (nginx, `vite dev` and
 * `vite preview` forward that to the back-end), or at VITE_API_BASE when the page is built for another host.
 *
 * Uploads use XMLHttpRequest rather than fetch: only XHR reports upload progress.
 */
import type { ErrorBody, Prediction, ServiceInfo } from "./types";

export const API_BASE: string = (import.meta.env.VITE_API_BASE as string | undefined)?.replace(/\/$/, "") ?? "/api";

/** A failed call. ``status`` 0 means no HTTP answer at all (network down, server not running). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfterS: number | null;

  constructor(status: number, code: string, detail: string, retryAfterS: number | null = null) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
}

export type UploadPhase = { phase: "uploading"; loaded: number; total: number } | { phase: "analysing" };

export interface AnalyseOptions {
  sampleFrames?: number;
  signal?: AbortSignal;
  onProgress?: (progress: UploadPhase) => void;
  apiKey?: string;
}

function abortError(): DOMException {
  return new DOMException("The analysis was cancelled.", "AbortError");
}

export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

/** The error an HTTP answer carries: the API's `{detail, code}` body, or a generic one. */
export function errorFromResponse(status: number, bodyText: string, retryAfter: string | null): ApiError {
  let body: Partial<ErrorBody> = {};
  try {
    const parsed: unknown = JSON.parse(bodyText);
    if (parsed && typeof parsed === "object") body = parsed as Partial<ErrorBody>;
  } catch {
    // Not JSON: a proxy's HTML error page, for example.
  }
  const seconds = retryAfter !== null && /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) : null;
  const code = typeof body.code === "string" ? body.code : status === 413 ? "too_large" : `http_${status}`;
  const detail = typeof body.detail === "string" ? body.detail : `The server answered ${status}.`;
  return new ApiError(status, code, detail, seconds);
}

function isPrediction(value: unknown): value is Prediction {
  const v = value as Prediction | null;
  return !!v && typeof v.emotion === "string" && typeof v.scores === "object" && Array.isArray(v.timeline);
}

/** Upload a video and get its prediction; rejects with ApiError, or an AbortError when cancelled. */
export function analyse(file: Blob, fileName: string, options: AnalyseOptions = {}): Promise<Prediction> {
  const { sampleFrames, signal, onProgress, apiKey } = options;
  return new Promise<Prediction>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const xhr = new XMLHttpRequest();
    const query = sampleFrames !== undefined ? `?sample_frames=${encodeURIComponent(sampleFrames)}` : "";
    xhr.open("POST", `${API_BASE}/infer${query}`);
    xhr.responseType = "text";
    if (apiKey) xhr.setRequestHeader("X-API-Key", apiKey);

    const onAbort = () => xhr.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const done = () => signal?.removeEventListener("abort", onAbort);

    xhr.upload.onprogress = (event) => {
      onProgress?.({ phase: "uploading", loaded: event.loaded, total: event.lengthComputable ? event.total : file.size });
    };
    xhr.upload.onload = () => onProgress?.({ phase: "analysing" });
    xhr.onload = () => {
      done();
      if (xhr.status >= 200 && xhr.status < 300) {
        let body: unknown = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          // handled below
        }
        if (isPrediction(body)) resolve(body);
        else reject(new ApiError(xhr.status, "bad_response", "The server's answer could not be read."));
        return;
      }
      reject(errorFromResponse(xhr.status, xhr.responseText, xhr.getResponseHeader("Retry-After")));
    };
    xhr.onerror = () => {
      done();
      reject(new ApiError(0, "network", "The service could not be reached."));
    };
    xhr.onabort = () => {
      done();
      reject(abortError());
    };

    const form = new FormData();
    form.append("file", file, fileName);
    xhr.send(form);
  });
}

/** What is being served (model, classes, limits). */
export async function getServiceInfo(signal?: AbortSignal): Promise<ServiceInfo> {
  let response: Response;
  try {
    response = await fetch(`${API_BASE}/`, { signal, headers: { Accept: "application/json" } });
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new ApiError(0, "network", "The service could not be reached.");
  }
  const text = await response.text();
  if (!response.ok) throw errorFromResponse(response.status, text, response.headers.get("Retry-After"));
  try {
    return JSON.parse(text) as ServiceInfo;
  } catch {
    throw new ApiError(response.status, "bad_response", "The server's answer could not be read.");
  }
}
