import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import { ScoreBars } from "@/components/ScoreBars";

describe("ScoreBars", () => {
  it("shows all six emotions in the API's order with their percentages", () => {
    render(<ScoreBars scores={{ NEU: 0.1, HAP: 0.7, SAD: 0.05, ANG: 0.05, FEA: 0.06, DIS: 0.04 }} top="HAP" />);
    const items = within(screen.getByRole("list", { name: "Scores for each emotion" })).getAllByRole("listitem");
    expect(items.map((li) => li.textContent)).toEqual([
      "Neutral10%",
      "Happy70%",
      "Sad5.0%",
      "Angry5.0%",
      "Fearful6.0%",
      "Disgusted4.0%",
    ]);
  });

  it("draws each bar as wide as its score and stresses the top class", () => {
    render(<ScoreBars scores={{ NEU: 0.25, HAP: 0.75, SAD: 0, ANG: 0, FEA: 0, DIS: 0 }} top="HAP" />);
    const happy = screen.getByTestId("score-HAP");
    expect((happy.querySelector("[aria-hidden] > span") as HTMLElement).style.width).toBe("75%");
    expect(within(happy).getByText("Happy")).toHaveClass("font-semibold");
    expect((screen.getByTestId("score-SAD").querySelector("[aria-hidden] > span") as HTMLElement).style.width).toBe("0%");
  });

  it("treats a class missing from the scores as zero", () => {
    render(<ScoreBars scores={{ HAP: 1 }} />);
    expect(screen.getByTestId("score-DIS")).toHaveTextContent("Disgusted0.0%");
  });
});
