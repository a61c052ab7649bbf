import { fireEvent, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import { TimelineChart } from "@/components/TimelineChart";
import { ticks } from "@/lib/format";
import { prediction } from "@/test/fakeXhr";

const { timeline } = prediction();

function chart(onSeek = vi.fn(), currentTime?: number) {
  render(<TimelineChart timeline={timeline} duration={3} onSeek={onSeek} currentTime={currentTime} />);
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

describe("ticks", () => {
  it("picks a round step with at most nine labels", () => {
    expect(ticks(3)).toEqual([0, 0.5, 1, 1.5, 2, 2.5, 3]);
    expect(ticks(300)).toEqual([0, 60, 120, 180, 240, 300]);
    expect(ticks(600).length).toBeLessThanOrEqual(9);
  });
});
