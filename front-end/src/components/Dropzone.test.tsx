import { act, fireEvent, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import { Dropzone } from "@/components/Dropzone";
import { isAudioFile, isImageFile } from "@/lib/media";

const memo = () => new File([new Uint8Array(1024)], "memo.m4a", { type: "audio/mp4" });

describe("Dropzone", () => {
  it("asks for a video, an audio recording or a photo", () => {
    render(<Dropzone onFile={vi.fn()} maxUploadMb={100} />);
    expect(screen.getByTestId("dropzone")).toHaveTextContent("Drag a video, an audio recording or a photo here");
    expect(screen.getByTestId("dropzone")).toHaveTextContent(
      "audio (WAV, MP3, FLAC, M4A, Ogg or Opus) or a photo (JPEG, PNG or WebP), up to 100 MB",
    );
    const accept = (screen.getByLabelText("Choose a video, audio file or photo") as HTMLInputElement).accept.split(",");
    expect(accept).toEqual(expect.arrayContaining(["video/*", "audio/*", ".wav", ".mp3", ".flac", ".m4a", ".ogg", ".opus", ".webm"]));
    expect(accept).toEqual(expect.arrayContaining(["image/jpeg", "image/png", "image/webp", ".jpg", ".jpeg", ".png", ".webp"]));
    expect(accept).not.toContain("image/*"); // a phone then hands over a HEIC photo as JPEG
  });

  it("asks for no photo where the served model does not read photos", () => {
    render(<Dropzone onFile={vi.fn()} photos={false} />);
    expect(screen.getByTestId("dropzone")).toHaveTextContent("Drag a video or an audio recording here");
    expect(screen.getByTestId("dropzone")).not.toHaveTextContent("photo");
    const accept = (screen.getByLabelText("Choose a video or audio file") as HTMLInputElement).accept.split(",");
    expect(accept.filter((a) => a.startsWith("image/") || a === ".jpg")).toEqual([]);
  });

  it("takes a photo from the picker, and says so while one is dragged over", async () => {
    const user = userEvent.setup();
    const onFile = vi.fn();
    render(<Dropzone onFile={onFile} />);
    const photo = new File([new Uint8Array(1024)], "IMG_0001.JPG", { type: "image/jpeg" });
    await user.upload(screen.getByLabelText("Choose a video, audio file or photo"), photo);
    expect(onFile).toHaveBeenCalledWith(photo);
    fireEvent.dragOver(screen.getByTestId("dropzone"), { dataTransfer: { items: [{ kind: "file", type: "image/png" }], files: [] } });
    expect(screen.getByTestId("dropzone")).toHaveTextContent("Drop to use this photo");
  });

  it("takes an audio file from the picker", async () => {
    const user = userEvent.setup(); // applies the input's accept, as a browser's picker does
    const onFile = vi.fn();
    render(<Dropzone onFile={onFile} />);
    const file = memo();
    await user.upload(screen.getByLabelText("Choose a video, audio file or photo"), file);
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

describe("isImageFile", () => {
  it("goes by the type, or by the name where the browser gave none", () => {
    expect(isImageFile({ name: "IMG_0001.JPG", type: "image/jpeg" })).toBe(true);
    expect(isImageFile({ name: "scan.webp", type: "" })).toBe(true);
    expect(isImageFile({ name: "clip.mp4", type: "video/mp4" })).toBe(false);
    expect(isImageFile({ name: "photo.jpg", type: "video/mp4" })).toBe(false);
    expect(isImageFile({ name: "memo.m4a", type: "" })).toBe(false);
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
