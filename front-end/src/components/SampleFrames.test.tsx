import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it } from "vitest";

import { SampleFrames } from "@/components/SampleFrames";

function Harness({ max = 256 }: { max?: number }) {
  const [value, setValue] = useState(32);
  return (
    <>
      <SampleFrames value={value} onChange={setValue} max={max} />
      <output data-testid="value">{value}</output>
    </>
  );
}

describe("SampleFrames", () => {
  it("takes a typed number in range, and keeps the last valid one otherwise", async () => {
    const user = userEvent.setup();
    render(<Harness max={100} />);
    const box = screen.getByRole("spinbutton", { name: "Frames to analyse" });
    await user.clear(box);
    expect(screen.getByTestId("value")).toHaveTextContent("32");
    await user.type(box, "80");
    expect(screen.getByTestId("value")).toHaveTextContent("80");
    await user.type(box, "0"); // 800: over the limit
    expect(screen.getByTestId("value")).toHaveTextContent("80");
    await user.tab();
    expect(box).toHaveValue(80);
  });

  it("moves with the slider's keys and stays within 1..max", async () => {
    const user = userEvent.setup();
    render(<Harness max={40} />);
    const thumb = screen.getByRole("slider", { name: "Frames to analyse" });
    thumb.focus();
    await user.keyboard("{End}");
    expect(screen.getByTestId("value")).toHaveTextContent("40");
    expect(screen.getByRole("spinbutton")).toHaveValue(40);
    await user.keyboard("{Home}");
    expect(screen.getByTestId("value")).toHaveTextContent("1");
  });

  it("says when the served model fixes its own frames", () => {
    render(<SampleFrames value={32} onChange={() => undefined} max={256} fixedByModel />);
    expect(screen.getByText(/fixed number of frames per window/)).toBeInTheDocument();
  });
});
