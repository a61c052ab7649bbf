import { describe, expect, it } from "vitest";

import { ApiError } from "@/api/client";
import { describeError } from "@/api/errors";

const cases: Array<[number, string, RegExp, boolean]> = [
  [0, "network", /cannot be reached/, true],
  [413, "too_large", /too large/, false],
  [415, "unsupported_media_type", /not a video/, false],
  [400, "empty", /empty/, false],
  [422, "undecodable", /could not be decoded/, false],
  [422, "too_long", /too long/, false],
  [422, "too_short", /too short/, false],
  [422, "frame_too_large", /too large/, false],
  [422, "no_signal", /No face or voice/, false],
  [401, "unauthorized", /API key/, false],
  [503, "busy", /busy/, true],
  [408, "upload_timeout", /too slow/, true],
  [503, "unavailable", /not answering/, true],
  [504, "timeout", /too long/, false],
  [500, "internal", /had a problem/, true],
];

describe("describeError", () => {
  it.each(cases)("%i %s is told as a sentence with what to do", (status, code, title, retry) => {
    const story = describeError(new ApiError(status, code, "the server's words"));
    expect(story.title).toMatch(title);
    expect(story.action.length).toBeGreaterThan(10);
    expect(story.retry).toBe(retry);
    expect(story.detail).toBe(status === 0 ? undefined : "the server's words");
  });

  it("names the upload limit when it is known", () => {
    expect(describeError(new ApiError(413, "too_large", "x"), { max_upload_mb: 100 }).action).toContain("100 MB");
  });

  it("tells the wait from Retry-After", () => {
    expect(describeError(new ApiError(503, "busy", "x", 5)).action).toBe("Try again in 5 seconds.");
  });

  it("covers errors that are not from the API", () => {
    const story = describeError(new Error("boom"));
    expect(story.title).toMatch(/page/);
    expect(story.detail).toBe("boom");
  });
});
