import { act, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { RecordPanel } from "@/components/RecordPanel";

/** Enough of MediaRecorder for the panel: emits one chunk a tick while recording. */
class FakeRecorder {
  static isTypeSupported = (type: string) => type.startsWith("video/webm");
  state: "inactive" | "recording" = "inactive";
  mimeType: string;
  ondataavailable: ((event: { data: Blob }) => void) | null = null;
  onstop: (() => void) | null = null;
  private timer = 0;

  constructor(_stream: MediaStream, options?: { mimeType?: string }) {
    this.mimeType = options?.mimeType ?? "video/webm";
  }

  start(slice: number) {
    this.state = "recording";
    this.timer = window.setInterval(() => this.ondataavailable?.({ data: new Blob([new Uint8Array(100)]) }), slice);
  }

  stop() {
    window.clearInterval(this.timer);
    this.state = "inactive";
    this.onstop?.();
  }
}

const track = { stop: vi.fn() };
const stream = { getTracks: () => [track] } as unknown as MediaStream;

beforeEach(() => {
  vi.useFakeTimers();
  vi.stubGlobal("MediaRecorder", FakeRecorder);
  Object.defineProperty(navigator, "mediaDevices", {
    configurable: true,
    value: { getUserMedia: vi.fn(async () => stream) },
  });
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
  track.stop.mockClear();
});

async function openCamera() {
  await act(async () => screen.getByRole("button", { name: "Turn on camera" }).click());
}

describe("RecordPanel", () => {
  it("counts down from 3, records the chosen length and hands over a webm file", async () => {
    const onRecorded = vi.fn();
    render(<RecordPanel onRecorded={onRecorded} />);
    await openCamera();
    expect(navigator.mediaDevices.getUserMedia).toHaveBeenCalledWith(expect.objectContaining({ audio: true }));
    act(() => screen.getByRole("button", { name: "Record 5 s" }).click());
    expect(screen.getByText("Recording starts in 3")).toBeInTheDocument();
    act(() => vi.advanceTimersByTime(2000));
    expect(screen.getByText("Recording starts in 1")).toBeInTheDocument();
    act(() => vi.advanceTimersByTime(1000));
    expect(screen.getByText("REC 5 s")).toBeInTheDocument();
    act(() => vi.advanceTimersByTime(2000));
    expect(screen.getByText("REC 3 s")).toBeInTheDocument();
    expect(onRecorded).not.toHaveBeenCalled();
    act(() => vi.advanceTimersByTime(3000));
    expect(onRecorded).toHaveBeenCalledTimes(1);
    const file = onRecorded.mock.calls[0]?.[0] as File;
    expect(file.name).toMatch(/^recording-.*\.webm$/);
    expect(file.type).toBe("video/webm;codecs=vp9,opus");
    expect(file.size).toBe(100 * 20); // a 100-byte chunk every 250 ms for 5 s
    expect(screen.getByRole("button", { name: "Record 5 s" })).toBeInTheDocument();
  });

  it("stops early and keeps what was recorded; a countdown can be called off", async () => {
    const onRecorded = vi.fn();
    render(<RecordPanel onRecorded={onRecorded} />);
    await openCamera();
    act(() => screen.getByRole("button", { name: "Record 5 s" }).click());
    act(() => screen.getByRole("button", { name: "Cancel" }).click());
    act(() => vi.advanceTimersByTime(5000));
    expect(onRecorded).not.toHaveBeenCalled();

    act(() => screen.getByRole("button", { name: "Record 5 s" }).click());
    act(() => vi.advanceTimersByTime(4000));
    act(() => screen.getByRole("button", { name: "Stop now" }).click());
    expect(onRecorded).toHaveBeenCalledTimes(1);
    expect((onRecorded.mock.calls[0]?.[0] as File).size).toBe(400);
  });

  it("turning the camera off stops its tracks", async () => {
    render(<RecordPanel onRecorded={vi.fn()} />);
    await openCamera();
    act(() => screen.getByRole("button", { name: "Turn off camera" }).click());
    expect(track.stop).toHaveBeenCalled();
    expect(screen.getByRole("button", { name: "Turn on camera" })).toBeInTheDocument();
  });

  it("explains a refused camera", async () => {
    Object.defineProperty(navigator, "mediaDevices", {
      configurable: true,
      value: { getUserMedia: vi.fn(async () => Promise.reject(new DOMException("denied", "NotAllowedError"))) },
    });
    render(<RecordPanel onRecorded={vi.fn()} />);
    await openCamera();
    expect(screen.getByRole("alert")).toHaveTextContent("did not allow the camera");
  });

  it("says so where the browser cannot record", async () => {
    vi.stubGlobal("MediaRecorder", undefined);
    render(<RecordPanel onRecorded={vi.fn()} />);
    await openCamera();
    expect(screen.getByRole("alert")).toHaveTextContent("Upload a video instead");
  });
});
