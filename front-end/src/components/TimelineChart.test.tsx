import { fireEvent, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import { TimelineChart } from "@/components/TimelineChart";
import { ticks } from "@/lib/format";
import { expertPrediction, prediction } from "@/test/fakeXhr";

const { timeline } = prediction();

function chart(onSeek = vi.fn(), currentTime?: number, segments = timeline) {
  render(<TimelineChart timeline={segments} duration={3} onSeek={onSeek} currentTime={currentTime} />);
  const element = screen.getByTestId("timeline");
  // jsdom lays nothing out: give the chart a 300-pixel width at x = 100.
  element.getBoundingClientRect = () => ({ left: 100, width: 300, top: 0, height: 100, right: 400, bottom: 100, x: 100, y: 0, toJSON: () => ({}) });
  return { element, onSeek };
}

describe("TimelineChart", () => {
  it("draws six stacked bars per scored segment and a grey one where no face was found", () => {
    const { element } = chart();
    const svg = element.querySelector("svg") as SVGSVGElement;
    expect(svg.querySelectorAll("g")).toHaveLength(2);
    expect(svg.querySelectorAll("g rect")).toHaveLength(12);
    const happy = svg.querySelectorAll("g")[0]?.querySelectorAll("rect")[1];
    expect(Number(happy?.getAttribute("height"))).toBeCloseTo(90);
    expect(svg.querySelectorAll(":scope > rect.fill-muted")).toHaveLength(1);
  });

  it("draws no face and voice lanes for an answer without experts (a checkpoint's)", () => {
    const { element } = chart();
    expect(screen.queryByTestId("timeline-lanes")).toBeNull();
    expect(element.querySelectorAll("svg")).toHaveLength(1);
    expect(screen.getByRole("list", { name: "Colours" })).toHaveTextContent("no face");
    expect(screen.getAllByRole("columnheader").map((h) => h.textContent)).toEqual(["Time", "Emotion", "NEU", "HAP", "SAD", "ANG", "FEA", "DIS"]);
  });

  it("shows a segment's scores on hover", () => {
    const { element } = chart();
    fireEvent.mouseMove(element, { clientX: 150 }); // 50 of 300 px → 0.5 s → the first segment
    const tooltip = screen.getByTestId("timeline-tooltip");
    expect(tooltip).toHaveTextContent("Happy");
    expect(tooltip).toHaveTextContent("0:00–0:01");
    expect(within(tooltip).getByTestId("score-HAP")).toHaveTextContent("90%");

    fireEvent.mouseMove(element, { clientX: 250 }); // 1.5 s → the segment without a face
    expect(screen.getByTestId("timeline-tooltip")).toHaveTextContent("No face found");
    fireEvent.mouseLeave(element);
    expect(screen.queryByTestId("timeline-tooltip")).toBeNull();
  });

  it("seeks to the clicked instant", () => {
    const { element, onSeek } = chart();
    fireEvent.click(element, { clientX: 325 });
    expect(onSeek).toHaveBeenCalledWith(2.25);
  });

  it("is usable from the keyboard, and says where it is", async () => {
    const user = userEvent.setup();
    const { onSeek } = chart();
    await user.tab();
    expect(screen.getByTestId("timeline")).toHaveFocus();
    await user.keyboard("{ArrowRight}");
    expect(screen.getByTestId("timeline-live")).toHaveTextContent("0:01 to 0:02: nothing could be read (no face found)");
    await user.keyboard("{End}");
    expect(screen.getByTestId("timeline-live")).toHaveTextContent("0:02 to 0:03: Neutral 60%");
    await user.keyboard("{Enter}");
    expect(onSeek).toHaveBeenLastCalledWith(2);
    await user.keyboard("{Home}{ArrowLeft} ");
    expect(onSeek).toHaveBeenLastCalledWith(0);
  });

  it("draws the playhead where the video is", () => {
    const { element } = chart(vi.fn(), 1.5);
    expect(element.querySelector("[data-testid=playhead]")?.getAttribute("x1")).toBe("500");
  });

  it("offers the same numbers as a table", () => {
    chart();
    const rows = screen.getAllByRole("row");
    expect(rows).toHaveLength(4);
    expect(rows[2]).toHaveTextContent("no face");
    expect(rows[3]).toHaveTextContent("Neutral60%30%");
  });
});

describe("TimelineChart with the face and voice experts", () => {
  const split = expertPrediction().timeline;
  const cells = (lane: string) =>
    Array.from(screen.getByTestId(`lane-${lane}`).querySelectorAll("rect[data-emotion]")).map((r) => r.getAttribute("data-emotion"));

  it("draws a fused, a face and a voice lane, one cell per segment the lane has scores for", () => {
    const { element } = chart(vi.fn(), undefined, split);
    expect(within(screen.getByTestId("timeline-lanes")).getAllByText(/^(Fused|Face|Voice)$/).map((e) => e.textContent)).toEqual(["Fused", "Face", "Voice"]);
    expect(cells("fused")).toEqual(["HAP", "HAP"]);
    expect(cells("face")).toEqual(["HAP", "NEU"]);
    expect(cells("voice")).toEqual(["HAP"]);
    expect(screen.getByTestId("lane-voice-count")).toHaveTextContent("speech in 1 of 3");
    expect(screen.getByTestId("lane-face-count")).toHaveTextContent("a face in 2 of 3");
    // The stacked chart above is the fused answer, as before.
    expect(element.querySelectorAll("svg")[0]?.querySelectorAll("g")).toHaveLength(2);
  });

  it("pales a cell by its confidence and leaves null segments to the hatched lane", () => {
    chart(vi.fn(), undefined, split);
    const face = screen.getByTestId("lane-face").querySelectorAll("rect[data-emotion]");
    expect(face[0]?.getAttribute("data-confidence")).toBe("0.900");
    expect(face[1]?.getAttribute("data-confidence")).toBe("0.600");
    const voiceCell = screen.getByTestId("lane-voice").querySelector("rect[data-emotion]");
    expect(Number(voiceCell?.getAttribute("x"))).toBeCloseTo(666.67, 1); // only the third second has speech
    expect(screen.getByTestId("lane-voice").querySelector(".hatched")).not.toBeNull();
    expect(screen.getByRole("list", { name: "Colours" })).toHaveTextContent("no face / no speech");
  });

  it("says on hover what each expert read, and where one had nothing", () => {
    const { element } = chart(vi.fn(), undefined, split);
    fireEvent.mouseMove(element, { clientX: 150 }); // the first second: a face, no speech
    expect(screen.getByTestId("tooltip-face")).toHaveTextContent("Happy 90%");
    expect(screen.getByTestId("tooltip-voice")).toHaveTextContent("no speech");
    expect(screen.queryByTestId("tooltip-dominant")).toBeNull();
    expect(screen.queryByTestId("tooltip-disagree")).toBeNull();

    fireEvent.mouseMove(element, { clientX: 250 }); // the second: nothing at all
    const tooltip = screen.getByTestId("timeline-tooltip");
    expect(tooltip).toHaveTextContent("Nothing read");
    expect(screen.getByTestId("tooltip-face")).toHaveTextContent("no face");
    expect(screen.getByTestId("tooltip-voice")).toHaveTextContent("no speech");

    fireEvent.mouseMove(element, { clientX: 350 }); // the third: both, pooled to happy
    expect(screen.getByTestId("timeline-tooltip")).toHaveTextContent("Happy");
    expect(within(screen.getByTestId("timeline-tooltip")).getByTestId("score-HAP")).toHaveTextContent("60%");
    expect(screen.getByTestId("tooltip-face")).toHaveTextContent("Neutral 60%");
    expect(screen.getByTestId("tooltip-voice")).toHaveTextContent("Happy 70%");
    expect(screen.getByTestId("tooltip-dominant")).toHaveTextContent("Voice weighed most here");
    expect(screen.getByTestId("tooltip-disagree")).toHaveTextContent("Face and voice disagree here");
  });

  it("still seeks on click and from the keyboard, and tells the experts apart in words", async () => {
    const user = userEvent.setup();
    const { element, onSeek } = chart(vi.fn(), 1.5, split);
    fireEvent.click(element, { clientX: 325 });
    expect(onSeek).toHaveBeenCalledWith(2.25);
    // the playhead runs through the lanes too
    expect(screen.getByTestId("lane-voice").querySelector("line")?.getAttribute("x1")).toBe("500");
    await user.tab();
    await user.keyboard("{ArrowRight}");
    expect(screen.getByTestId("timeline-live")).toHaveTextContent("0:01 to 0:02: nothing could be read (no face, no speech)");
    await user.keyboard("{End}");
    expect(screen.getByTestId("timeline-live")).toHaveTextContent("0:02 to 0:03: Happy 60% (face: Neutral 60%, voice: Happy 70%)");
    await user.keyboard("{Enter}");
    expect(onSeek).toHaveBeenLastCalledWith(2);
  });

  it("puts the face's and the voice's top class of each segment in the table", () => {
    chart(vi.fn(), undefined, split);
    expect(screen.getAllByRole("columnheader").slice(0, 4).map((h) => h.textContent)).toEqual(["Time", "Fused", "Face", "Voice"]);
    const rows = screen.getAllByRole("row");
    expect(rows).toHaveLength(4);
    expect(within(rows[1] as HTMLElement).getByTestId("table-face")).toHaveTextContent("Happy 90%");
    expect(within(rows[1] as HTMLElement).getByTestId("table-voice")).toHaveTextContent("no speech");
    expect(rows[2]).toHaveTextContent("nothing read");
    expect(within(rows[2] as HTMLElement).getByTestId("table-face")).toHaveTextContent("no face");
    expect(within(rows[3] as HTMLElement).getByTestId("table-face")).toHaveTextContent("Neutral 60%");
    expect(within(rows[3] as HTMLElement).getByTestId("table-voice")).toHaveTextContent("Happy 70%");
  });
});

describe("ticks", () => {
  it("picks a round step with at most nine labels", () => {
    expect(ticks(3)).toEqual([0, 0.5, 1, 1.5, 2, 2.5, 3]);
    expect(ticks(300)).toEqual([0, 60, 120, 180, 240, 300]);
    expect(ticks(600).length).toBeLessThanOrEqual(9);
  });
});
