import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import App from "@/App";
import { expertPrediction, FakeXhr, prediction, SERVICE_INFO } from "@/test/fakeXhr";

const clip = () => new File([new Uint8Array(4096)], "smile.mp4", { type: "video/mp4" });

function serveInfo(ok = true) {
  vi.stubGlobal(
    "fetch",
    vi.fn(async () => (ok ? new Response(JSON.stringify(SERVICE_INFO)) : Promise.reject(new TypeError("Failed to fetch")))),
  );
}

async function chooseAndAnalyse(user: ReturnType<typeof userEvent.setup>, file = clip()) {
  await user.upload(screen.getByLabelText("Choose a video, audio file or photo"), file);
  expect(screen.getByTestId("preview")).toHaveAttribute("aria-label", `Preview of ${file.name}`);
  await user.click(screen.getByRole("button", { name: "Analyse" }));
  return FakeXhr.last();
}

beforeEach(() => {
  FakeXhr.reset();
  vi.stubGlobal("XMLHttpRequest", FakeXhr);
  serveInfo();
});
afterEach(() => vi.unstubAllGlobals());

describe("the upload flow", () => {
  it("goes from a chosen file through upload progress and analysing to the result", async () => {
    const user = userEvent.setup();
    render(<App />);
    expect(await screen.findByTestId("service-model")).toHaveTextContent("fer-mini-xception");
    expect(screen.getByTestId("result-empty")).toBeInTheDocument();

    const xhr = await chooseAndAnalyse(user);
    expect(xhr.url).toBe("/api/infer?sample_frames=32");
    act(() => xhr.progress(2048, 4096));
    expect(screen.getByRole("status")).toHaveTextContent("Uploading… 50%");
    act(() => xhr.uploaded());
    expect(screen.getByRole("status")).toHaveTextContent("Analysing face and voice…");
    expect(screen.getByRole("button", { name: "Cancel" })).toBeEnabled();

    act(() => xhr.respond(200, prediction()));
    expect(await screen.findByTestId("emotion")).toHaveTextContent("Happy");
    expect(screen.getByTestId("confidence")).toHaveTextContent("82%");
    expect(screen.getByTestId("modality-video")).toHaveTextContent("Face: used");
    expect(screen.getByTestId("modality-audio")).toHaveTextContent("Voice: not used");
    expect(screen.getByTestId("model-name")).toHaveTextContent("fer-mini-xception");
    expect(screen.getByTestId("clip-duration")).toHaveTextContent("3.0 s");
    expect(screen.getByText("Server total").nextSibling).toHaveTextContent("260 ms");
    expect(screen.getByText("With upload")).toBeInTheDocument();
    const scores = within(screen.getByRole("list", { name: "Scores for each emotion" }));
    expect(scores.getAllByRole("listitem")).toHaveLength(6);
    expect(screen.getByTestId("timeline")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: /Analyse again/ })).toBeEnabled();
  });

  it("sends the chosen number of frames", async () => {
    const user = userEvent.setup();
    render(<App />);
    await user.upload(screen.getByLabelText("Choose a video, audio file or photo"), clip());
    const frames = screen.getByRole("spinbutton", { name: "Frames to analyse" });
    await user.clear(frames);
    await user.type(frames, "64");
    await user.click(screen.getByRole("button", { name: "Analyse" }));
    expect(FakeXhr.last().url).toBe("/api/infer?sample_frames=64");
  });

  it("clicking the timeline seeks the video", async () => {
    const user = userEvent.setup();
    render(<App />);
    const xhr = await chooseAndAnalyse(user);
    act(() => xhr.respond(200, prediction()));
    const timeline = await screen.findByTestId("timeline");
    timeline.getBoundingClientRect = () => ({ left: 0, width: 300, top: 0, height: 100, right: 300, bottom: 100, x: 0, y: 0, toJSON: () => ({}) });
    const video = screen.getByTestId("preview") as HTMLVideoElement;
    video.play = vi.fn(async () => undefined);
    await user.pointer({ keys: "[MouseLeft]", target: timeline, coords: { clientX: 200 } });
    expect(video.currentTime).toBeCloseTo(2);
  });

  it("analyses an audio recording: an audio player, the voice lane, and timeline clicks seek it", async () => {
    const user = userEvent.setup();
    render(<App />);
    const memo = new File([new Uint8Array(4096)], "memo.m4a", { type: "audio/mp4" });
    const xhr = await chooseAndAnalyse(user, memo);
    const player = screen.getByTestId("preview") as HTMLAudioElement;
    expect(player.tagName).toBe("AUDIO");
    const voice = "2.1 s of speech, scored in 1 of 1 window(s)";
    const base = expertPrediction();
    act(() =>
      xhr.respond(
        200,
        expertPrediction({
          modalities: { model: ["video", "audio"], used: ["audio"], missing: ["video"], available: { video: false, audio: true }, detail: { video: "the file has no video", audio: voice } },
          timeline: base.timeline.map(({ frames: _frames, faces: _faces, ...segment }) => ({ ...segment, face: null })),
          experts: {
            face: { scores: null, used: false, detail: "the file has no video", weight: 1 },
            voice: { scores: { NEU: 0.2, HAP: 0.7, SAD: 0.04, ANG: 0.03, FEA: 0.02, DIS: 0.01 }, used: true, detail: voice, weight: 1 },
          },
          fusion: { rule: "log-linear pooling", weights: { face: 1, voice: 1 }, dominant: "voice", agree: null },
          frames_analysed: 0,
        }),
      ),
    );
    expect(await screen.findByTestId("fusion-agree")).toHaveTextContent("Only the voice could be read (no face)");
    expect(screen.getByTestId("expert-face")).toHaveTextContent("Face expert: no answer");
    expect(screen.getByTestId("modality-video")).toHaveTextContent("the file has no video");
    expect(screen.getByTestId("lane-voice").querySelectorAll("rect[data-emotion]")).toHaveLength(1);
    expect(screen.getByTestId("lane-face").querySelectorAll("rect[data-emotion]")).toHaveLength(0);

    const timeline = screen.getByTestId("timeline");
    timeline.getBoundingClientRect = () => ({ left: 0, width: 300, top: 0, height: 100, right: 300, bottom: 100, x: 0, y: 0, toJSON: () => ({}) });
    const audio = screen.getByTestId("preview") as HTMLAudioElement;
    expect(audio.tagName).toBe("AUDIO");
    audio.play = vi.fn(async () => undefined);
    await user.pointer({ keys: "[MouseLeft]", target: timeline, coords: { clientX: 250 } });
    expect(audio.currentTime).toBeCloseTo(2.5);
    expect(audio.play).toHaveBeenCalled();
    expect(screen.getByRole("button", { name: "Choose another recording" })).toBeInTheDocument();
  });

  it("analyses a photo: the picture is shown, read by the face alone, with nothing over time", async () => {
    const user = userEvent.setup();
    render(<App />);
    const photo = new File([new Uint8Array(4096)], "IMG_0001.JPG", { type: "image/jpeg" });
    await user.upload(screen.getByLabelText("Choose a video, audio file or photo"), photo);
    const preview = screen.getByRole("img", { name: "Preview of IMG_0001.JPG" });
    expect(preview.tagName).toBe("IMG");
    expect(preview).toHaveAttribute("data-testid", "preview");
    expect(document.querySelector("video")).toBeNull();
    expect(screen.queryByRole("spinbutton", { name: "Frames to analyse" })).toBeNull(); // one picture: one frame
    await user.click(screen.getByRole("button", { name: "Analyse" }));
    const xhr = FakeXhr.last();
    expect(xhr.url).toBe("/api/infer?sample_frames=32");
    const base = expertPrediction();
    const face = { NEU: 0.04, HAP: 0.9, SAD: 0.02, ANG: 0.02, FEA: 0.01, DIS: 0.01 };
    const detail = "a JPEG photo of 4032×3024: a face found";
    act(() =>
      xhr.respond(
        200,
        expertPrediction({
          emotion: "HAP",
          label: "Happy",
          confidence: 0.9,
          scores: face,
          modalities: { model: ["video", "audio"], used: ["video"], missing: ["audio"], available: { video: true, audio: false }, detail: { video: detail, audio: "a photo has no sound" } },
          timeline: [{ start: 0, end: 1, emotion: "HAP", confidence: 0.9, scores: face, face, voice: null, speech_s: 0, dominant: "face", agree: null, frames: 1, faces: 1 }],
          experts: {
            face: { scores: face, used: true, detail, weight: 1 },
            voice: { scores: null, used: false, detail: "a photo has no sound", weight: 1 },
          },
          fusion: { ...base.fusion!, dominant: "face", agree: null },
          duration_s: 1,
          frames_analysed: 1,
        }),
      ),
    );
    expect(await screen.findByTestId("emotion")).toHaveTextContent("Happy");
    expect(screen.getByTestId("modality-video")).toHaveTextContent("Face: used");
    expect(screen.getByTestId("modality-audio")).toHaveTextContent("a photo has no sound");
    expect(screen.getByTestId("clip-duration")).toHaveTextContent("a photo");
    expect(screen.queryByTestId("timeline")).toBeNull();
    expect(screen.getByRole("img", { name: "Preview of IMG_0001.JPG" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Choose another photo" })).toBeInTheDocument();
  });

  it("does not offer photos when the served model cannot read them", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ ...SERVICE_INFO, photos: false }))));
    render(<App />);
    await screen.findByTestId("service-model");
    expect(screen.getByLabelText("Choose a video or audio file")).toBeInTheDocument();
    expect(screen.getByTestId("dropzone")).not.toHaveTextContent("photo");
  });

  it("can be cancelled, and the page stays usable", async () => {
    const user = userEvent.setup();
    render(<App />);
    const xhr = await chooseAndAnalyse(user);
    await user.click(screen.getByRole("button", { name: "Cancel" }));
    expect(xhr.aborted).toBe(true);
    expect(screen.getByText("Analysis cancelled.")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Analyse" }));
    act(() => FakeXhr.last().respond(200, prediction()));
    expect(await screen.findByTestId("emotion")).toHaveTextContent("Happy");
  });
});

describe("errors", () => {
  it.each([
    [415, { detail: "The upload is not a video file this service can read.", code: "unsupported_media_type" }, {}, /not a video, an audio recording or a photo the service can read/],
    [422, { detail: "no face was found", code: "no_signal" }, {}, /No face or voice could be found/],
    [422, { detail: "truncated", code: "undecodable" }, {}, /could not be decoded/],
    [413, "<html>413 Request Entity Too Large</html>", {}, /too large to upload/],
    [503, { detail: "busy", code: "busy" }, { "Retry-After": "5" }, /busy with other videos/],
  ])("a %i is told as a sentence, and another file can be chosen", async (status, body, headers, message) => {
    const user = userEvent.setup();
    render(<App />);
    const xhr = await chooseAndAnalyse(user);
    act(() => xhr.respond(status, body, headers));
    const alert = await screen.findByTestId("error");
    expect(alert).toHaveTextContent(message);
    await user.click(screen.getByRole("button", { name: "Choose another video" }));
    expect(screen.queryByTestId("error")).toBeNull();
    expect(screen.getByLabelText("Choose a video, audio file or photo")).toBeInTheDocument();
  });

  it("a 503 offers to try again and says when", async () => {
    const user = userEvent.setup();
    render(<App />);
    const xhr = await chooseAndAnalyse(user);
    act(() => xhr.respond(503, { detail: "busy", code: "busy" }, { "Retry-After": "5" }));
    expect(await screen.findByTestId("error")).toHaveTextContent("Try again in 5 seconds.");
    await user.click(screen.getByRole("button", { name: "Try again" }));
    act(() => FakeXhr.last().respond(200, prediction()));
    expect(await screen.findByTestId("emotion")).toHaveTextContent("Happy");
  });

  it("the network being down is said, not a blank page", async () => {
    const user = userEvent.setup();
    render(<App />);
    const xhr = await chooseAndAnalyse(user);
    act(() => xhr.fail());
    expect(await screen.findByTestId("error")).toHaveTextContent("The analysis service cannot be reached.");
    expect(screen.getByRole("button", { name: "Try again" })).toBeEnabled();
  });

  it("a file over the service's limit is refused before it is uploaded", async () => {
    const user = userEvent.setup();
    render(<App />);
    await screen.findByTestId("service-model"); // limits known: 1 MB
    await user.upload(screen.getByLabelText("Choose a video, audio file or photo"), new File([new Uint8Array(2 * 1024 * 1024)], "big.mp4", { type: "video/mp4" }));
    expect(screen.getByTestId("error")).toHaveTextContent("too large to upload");
    expect(screen.getByTestId("error")).toHaveTextContent("up to 1 MB");
    expect(screen.getByRole("button", { name: "Analyse" })).toBeDisabled();
    expect(FakeXhr.requests).toHaveLength(0);
  });

  it("an unreachable service is shown on load, with a retry", async () => {
    serveInfo(false);
    const user = userEvent.setup();
    render(<App />);
    const banner = await screen.findByTestId("service-error");
    expect(banner).toHaveTextContent("cannot be reached");
    serveInfo(true);
    await user.click(within(banner).getByRole("button", { name: "Try again" }));
    await waitFor(() => expect(screen.queryByTestId("service-error")).toBeNull());
    expect(screen.getByTestId("service-model")).toBeInTheDocument();
  });
});

describe("the page", () => {
  it("switches between light and dark and remembers the choice", async () => {
    const user = userEvent.setup();
    render(<App />);
    const toggle = screen.getByRole("button", { name: "Switch to dark theme" });
    await user.click(toggle);
    expect(document.documentElement).toHaveClass("dark");
    expect(localStorage.getItem("mmer-theme")).toBe("dark");
    await user.click(screen.getByRole("button", { name: "Switch to light theme" }));
    expect(document.documentElement).not.toHaveClass("dark");
  });

  it("accepts a dropped file", async () => {
    render(<App />);
    const dropzone = screen.getByTestId("dropzone");
    const file = clip();
    act(() => {
      dropzone.dispatchEvent(Object.assign(new Event("drop", { bubbles: true }), { dataTransfer: { files: [file] } }));
    });
    expect(await screen.findByTestId("preview")).toHaveAttribute("aria-label", "Preview of smile.mp4");
  });
});
