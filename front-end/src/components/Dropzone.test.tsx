import { act, fireEvent, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import { Dropzone } from "@/components/Dropzone";
import { isAudioFile } from "@/lib/media";

const memo = () => new File([new Uint8Array(1024)], "memo.m4a", { type: "audio/mp4" });

describe("Dropzone", () => {
  it("asks for a video or an audio recording", () => {
    render(<Dropzone onFile={vi.fn()} maxUploadMb={100} />);
    expect(screen.getByTestId("dropzone")).toHaveTextContent("Drag a video or an audio recording here");
    expect(screen.getByTestId("dropzone")).toHaveTextContent("or audio (WAV, MP3, FLAC, M4A, Ogg or Opus), up to 100 MB");
    const accept = (screen.getByLabelText("Choose a video or audio file") as HTMLInputElement).accept.split(",");
    expect(accept).toEqual(expect.arrayContaining(["video/*", "audio/*", ".wav", ".mp3", ".flac", ".m4a", ".ogg", ".opus", ".webm"]));
  });

  it("takes an audio file from the picker", async () => {
    const user = userEvent.setup(); // applies the input's accept, as a browser's picker does
    const onFile = vi.fn();
    render(<Dropzone onFile={onFile} />);
    const file = memo();
    await user.upload(screen.getByLabelText("Choose a video or audio file"), file);
    expect(onFile).toHaveBeenCalledWith(file);
  });

  it("takes a dropped audio file, and says what it is while it is dragged over", () => {
    const onFile = vi.fn();
    render(<Dropzone onFile={onFile} />);
    const zone = screen.getByTestId("dropzone");
    const file = new File([new Uint8Array(1024)], "memo.wav", { type: "audio/wav" });
    fireEvent.dragOver(zone, { dataTransfer: { items: [{ kind: "file", type: "audio/wav" }], files: [] } });
    expect(zone).toHaveTextContent("Drop to use this recording");
    act(() => {
      zone.dispatchEvent(Object.assign(new Event("drop", { bubbles: true }), { dataTransfer: { files: [file] } }));
    });
    expect(onFile).toHaveBeenCalledWith(file);
  });
});

describe("isAudioFile", () => {
  it("goes by the type, or by the name where the browser gave none", () => {
    expect(isAudioFile({ name: "memo.m4a", type: "audio/mp4" })).toBe(true);
    expect(isAudioFile({ name: "memo.opus", type: "" })).toBe(true);
    expect(isAudioFile({ name: "clip.webm", type: "video/webm" })).toBe(false);
    expect(isAudioFile({ name: "clip.mp4", type: "" })).toBe(false);
  });
});
