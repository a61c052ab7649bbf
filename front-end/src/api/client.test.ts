import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { ApiError, analyse, errorFromResponse, getServiceInfo, isAbort } from "@/api/client";
import { FakeXhr, prediction, SERVICE_INFO } from "@/test/fakeXhr";

const clip = new File([new Uint8Array(2048)], "clip.mp4", { type: "video/mp4" });

beforeEach(() => {
  FakeXhr.reset();
  vi.stubGlobal("XMLHttpRequest", FakeXhr);
});
afterEach(() => vi.unstubAllGlobals());

describe("analyse", () => {
  it("posts the file as multipart to /api/infer with sample_frames and reports each phase", async () => {
    const phases: string[] = [];
    const answer = analyse(clip, "clip.mp4", {
      sampleFrames: 48,
      onProgress: (p) => phases.push(p.phase === "uploading" ? `up ${p.loaded}/${p.total}` : p.phase),
    });
    const xhr = FakeXhr.last();
    expect(xhr.method).toBe("POST");
    expect(xhr.url).toBe("/api/infer?sample_frames=48");
    expect((xhr.body?.get("file") as File).name).toBe("clip.mp4");
    xhr.progress(1024, 2048);
    xhr.progress(2048, 2048);
    xhr.uploaded();
    xhr.respond(200, prediction());
    await expect(answer).resolves.toMatchObject({ emotion: "HAP", confidence: 0.82 });
    expect(phases).toEqual(["up 1024/2048", "up 2048/2048", "analysing"]);
  });

  it("turns the API's error body into an ApiError with its code", async () => {
    const answer = analyse(clip, "clip.mp4");
    FakeXhr.last().respond(415, { detail: "The upload is not a video file.", code: "unsupported_media_type" });
    await expect(answer).rejects.toMatchObject({ status: 415, code: "unsupported_media_type", message: "The upload is not a video file." });
  });

  it("reads Retry-After from a 503", async () => {
    const answer = analyse(clip, "clip.mp4");
    FakeXhr.last().respond(503, { detail: "busy", code: "busy" }, { "Retry-After": "7" });
    await expect(answer).rejects.toMatchObject({ status: 503, code: "busy", retryAfterS: 7 });
  });

  it("reports a network failure as status 0", async () => {
    const answer = analyse(clip, "clip.mp4");
    FakeXhr.last().fail();
    const error = await answer.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 0, code: "network" });
  });

  it("is cancelled by its signal, before or during the upload", async () => {
    const controller = new AbortController();
    const answer = analyse(clip, "clip.mp4", { signal: controller.signal });
    controller.abort();
    expect(FakeXhr.last().aborted).toBe(true);
    expect(isAbort(await answer.catch((e: unknown) => e))).toBe(true);

    const early = analyse(clip, "clip.mp4", { signal: controller.signal });
    expect(isAbort(await early.catch((e: unknown) => e))).toBe(true);
    expect(FakeXhr.requests).toHaveLength(1);
  });

  it("refuses a 200 that is not a prediction", async () => {
    const answer = analyse(clip, "clip.mp4");
    FakeXhr.last().respond(200, "<html>proxy page</html>");
    await expect(answer).rejects.toMatchObject({ code: "bad_response" });
  });

  it("sends the API key header when given one", () => {
    void analyse(clip, "clip.mp4", { apiKey: "s3cret" }).catch(() => undefined);
    expect(FakeXhr.last().headers["X-API-Key"]).toBe("s3cret");
  });
});

describe("errorFromResponse", () => {
  it("names a proxy's HTML 413 too_large", () => {
    const error = errorFromResponse(413, "<html><body>413 Request Entity Too Large</body></html>", null);
    expect(error.code).toBe("too_large");
    expect(error.message).toBe("The server answered 413.");
  });

  it("ignores a Retry-After that is not a number of seconds", () => {
    expect(errorFromResponse(503, "{}", "Wed, 21 Oct 2026 07:28:00 GMT").retryAfterS).toBeNull();
  });
});

describe("getServiceInfo", () => {
  it("reads GET /api/", async () => {
    const fetchMock = vi.fn(async () => new Response(JSON.stringify(SERVICE_INFO), { status: 200 }));
    vi.stubGlobal("fetch", fetchMock);
    await expect(getServiceInfo()).resolves.toMatchObject({ name: "mmer", limits: { max_upload_mb: 1 } });
    expect(fetchMock).toHaveBeenCalledWith("/api/", expect.anything());
  });

  it("says the service is unreachable when fetch fails", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    await expect(getServiceInfo()).rejects.toMatchObject({ status: 0, code: "network" });
  });

  it("passes on an API error", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ detail: "key", code: "unauthorized" }), { status: 401 })));
    await expect(getServiceInfo()).rejects.toMatchObject({ status: 401, code: "unauthorized" });
  });
});
