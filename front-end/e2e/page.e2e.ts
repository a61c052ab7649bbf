/**
 * The page in Debian's Chromium, against the real back-end serving the embedded default model.
 * Screenshots land in e2e/artifacts/ (look at them: a test can pass on an ugly page).
 */
import { existsSync, statSync } from "node:fs";
import path from "node:path";

import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { accessibilityProblems, launch, openPage } from "./browser";

const baseUrl = inject("baseUrl");
const fixtures = inject("fixtures");
const artifacts = inject("artifacts");
const clip = (name: string) => path.join(fixtures, name);
/**
 * A real face picture with a real RAVDESS voice: written by e2e/fixtures.py where the data folder is
 * there, or put by hand in e2e/fixtures/. (Not a synthetic clip: its sound is not speech.)
 */
const speechCandidates = [clip("speech-face.mp4"), path.join(import.meta.dirname, "fixtures", "speech-face.mp4")];
const speechClip = speechCandidates.find((file) => existsSync(file));
const shot = (page: Page, name: string) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });

let browser: Browser;
beforeAll(async () => {
  browser = await launch(fixtures);
});
afterAll(async () => {
  await browser?.close();
});

async function analyse(page: Page, file: string): Promise<void> {
  await page.setInputFiles("input[type=file]", clip(file));
  await page.getByTestId("preview").waitFor({ state: "attached" }); // hidden when the browser cannot play it
  await page.getByRole("button", { name: "Analyse", exact: true }).click();
}

async function videoTime(page: Page): Promise<number> {
  return page.getByTestId("preview").evaluate((v) => (v as HTMLVideoElement).currentTime);
}

describe("the page, served with the real back-end", () => {
  it("reads a smiling face as happy, with all six scores and a timeline that seeks the video", async () => {
    const { page, errors } = await openPage(browser, baseUrl);
    await expect.poll(() => page.getByTestId("service-model").textContent()).toContain("fer-mini-xception");
    await shot(page, "desktop-empty");

    await analyse(page, "face.mp4");
    await page.getByTestId("result").waitFor({ timeout: 60_000 });
    expect(await page.getByTestId("emotion").textContent()).toBe("Happy");
    expect(Number((await page.getByTestId("confidence").textContent())?.replace("%", ""))).toBeGreaterThan(50);
    expect(await page.getByRole("list", { name: "Scores for each emotion" }).first().getByRole("listitem").count()).toBe(6);
    expect(await page.getByTestId("modality-video").textContent()).toContain("Face: used");
    expect(await page.getByTestId("model-name").textContent()).toContain("fer-mini-xception");

    const timeline = page.getByTestId("timeline");
    expect(await timeline.locator("svg g").count()).toBe(3); // three 1-second segments, all with a face
    const box = await timeline.boundingBox();
    if (!box) throw new Error("the timeline is not on screen");
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.6);
    const tooltip = page.getByTestId("timeline-tooltip");
    await tooltip.waitFor();
    expect(await tooltip.textContent()).toContain("Happy");
    expect(await tooltip.textContent()).toContain("0:01–0:02");
    await shot(page, "desktop-result");

    await page.mouse.click(box.x + box.width * 0.75, box.y + box.height * 0.6);
    await expect.poll(() => videoTime(page)).toBeGreaterThan(2.0);
    expect(await accessibilityProblems(page)).toEqual([]);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("refuses a text file named .mp4 with a sentence, and stays usable", async () => {
    const { page, errors } = await openPage(browser, baseUrl);
    await analyse(page, "notes.mp4");
    const error = page.getByTestId("error");
    await error.waitFor();
    expect(await error.textContent()).toContain("That file is not a video, an audio recording or a photo the service can read.");
    expect(await error.textContent()).toContain("Choose a video (MP4");
    await shot(page, "desktop-not-a-video");
    expect(await accessibilityProblems(page)).toEqual([]);

    await page.getByRole("button", { name: "Choose another video" }).click();
    await analyse(page, "face.mp4");
    await page.getByTestId("result").waitFor({ timeout: 60_000 });
    expect(await page.getByTestId("emotion").textContent()).toBe("Happy");
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("reads a photo from the face: the picture is shown, the voice had nothing, no timeline", async () => {
    const { page, errors } = await openPage(browser, baseUrl);
    await analyse(page, "face.jpg");
    expect(await page.getByTestId("preview").evaluate((element) => element.tagName)).toBe("IMG");
    await page.getByTestId("result").waitFor({ timeout: 60_000 });
    expect(await page.getByTestId("emotion").textContent()).toBe("Happy");
    expect(await page.getByTestId("modality-video").textContent()).toContain("Face: used");
    expect(await page.getByTestId("modality-audio").textContent()).toContain("a photo has no sound");
    expect(await page.getByTestId("clip-duration").textContent()).toBe("a photo");
    expect(await page.getByTestId("timeline").count()).toBe(0);
    await shot(page, "desktop-photo");
    expect(await accessibilityProblems(page)).toEqual([]);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("reads the voice of a clip with speech: the voice lane has scored cells", async ({ skip }) => {
    if (!speechClip) {
      skip(`no speech-face.mp4 (looked in ${speechCandidates.join(" and ")}): it needs the RAVDESS data folder, or a short clip of a face with real speech put there by hand`);
      return;
    }
    const maxUploadMb = inject("maxUploadMb");
    expect(statSync(speechClip).size, `speech-face.mp4 must be under the test back-end's ${maxUploadMb} MB upload limit`).toBeLessThan(maxUploadMb * 1024 * 1024);
    const { page, errors } = await openPage(browser, baseUrl);
    await page.setInputFiles("input[type=file]", speechClip);
    await page.getByTestId("preview").waitFor({ state: "attached" });
    await page.getByRole("button", { name: "Analyse", exact: true }).click();
    await page.getByTestId("result").waitFor({ timeout: 60_000 });

    const audio = (await page.getByTestId("modality-audio").textContent()) ?? "";
    expect(audio).toContain("Voice: used");
    expect(audio).toMatch(/s of speech, scored in [1-9]\d* of \d+ window/);
    expect(await page.getByTestId("expert-voice").textContent()).toMatch(/Voice expert: (Neutral|Happy|Sad|Angry|Fearful|Disgusted), \d+%/);
    expect(await page.getByTestId("fusion-agree").textContent()).toMatch(/^Face and voice agree|^Face: \w+, voice: \w+ — they disagree|^Only the (face|voice)/);

    const lane = page.getByTestId("lane-voice");
    expect(await lane.isVisible()).toBe(true);
    const cells = lane.locator("rect[data-emotion]");
    expect(await cells.count()).toBeGreaterThan(0);
    expect(await cells.first().isVisible()).toBe(true);

    // Hovering over a scored voice cell says what the voice read there.
    const x = Number(await cells.first().getAttribute("x")) + Number(await cells.first().getAttribute("width")) / 2;
    const box = await page.getByTestId("timeline").boundingBox();
    if (!box) throw new Error("the timeline is not on screen");
    await page.mouse.move(box.x + (box.width * x) / 1000, box.y + box.height * 0.3);
    await page.getByTestId("timeline-tooltip").waitFor();
    expect(await page.getByTestId("tooltip-voice").textContent()).not.toContain("no speech");
    await shot(page, "desktop-speech-result");
    expect(await accessibilityProblems(page)).toEqual([]);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("works on a phone-sized screen without sideways scrolling", async () => {
    const { page, errors } = await openPage(browser, baseUrl, {
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    await shot(page, "phone-empty");
    expect(await accessibilityProblems(page)).toEqual([]);
    await analyse(page, "face.mp4");
    await page.getByTestId("result").waitFor({ timeout: 60_000 });
    expect(await page.getByTestId("emotion").textContent()).toBe("Happy");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shot(page, "phone-result");
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("records from the webcam after a countdown and analyses the recording", async () => {
    const { page, errors } = await openPage(browser, baseUrl);
    await page.getByRole("tab", { name: "Record" }).click();
    await page.getByRole("button", { name: "Turn on camera" }).click();
    await page.getByLabel("Length").selectOption("3");
    await page.getByRole("button", { name: "Record 3 s" }).click();
    await page.getByText("Recording starts in 3").waitFor({ state: "attached" });
    await page.getByText(/^REC \d s$/).waitFor({ timeout: 10_000 });
    await shot(page, "desktop-recording");
    await page.getByTestId("preview").waitFor({ timeout: 15_000 });
    expect(await page.locator("figcaption").textContent()).toMatch(/recording-.*\.webm/);

    await page.getByRole("button", { name: "Analyse", exact: true }).click();
    await page.getByTestId("result").waitFor({ timeout: 60_000 });
    expect(await page.getByTestId("emotion").textContent()).toBe("Happy");
    const duration = Number((await page.getByTestId("clip-duration").textContent())?.replace(" s", ""));
    expect(duration).toBeGreaterThan(2);
    expect(duration).toBeLessThan(4.5);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("can be cancelled while the answer is on its way", async () => {
    const { page, errors } = await openPage(browser, baseUrl);
    // Hold the request back so that there is time to press Cancel.
    await page.route("**/api/infer**", async (route) => {
      await new Promise((r) => setTimeout(r, 4000));
      await route.continue().catch(() => undefined);
    });
    await analyse(page, "face.mp4");
    await page.getByTestId("progress").waitFor();
    await page.getByRole("button", { name: "Cancel" }).click();
    await page.getByText("Analysis cancelled.").waitFor();
    expect(await page.getByTestId("result").count()).toBe(0);
    expect(await page.getByRole("button", { name: "Analyse", exact: true }).isEnabled()).toBe(true);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("says the service cannot be reached when the network is down, and offers to try again", async () => {
    const { page, errors } = await openPage(browser, baseUrl);
    await page.route("**/api/infer**", (route) => route.abort("connectionrefused"));
    await analyse(page, "face.mp4");
    const error = page.getByTestId("error");
    await error.waitFor();
    expect(await error.textContent()).toContain("The analysis service cannot be reached.");
    await page.unroute("**/api/infer**");
    await page.getByRole("button", { name: "Try again" }).click();
    await page.getByTestId("result").waitFor({ timeout: 60_000 });
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("links to the API's docs, which read their schema through the same origin", async () => {
    const { page, errors } = await openPage(browser, baseUrl);
    expect(await page.getByRole("link", { name: "API documentation" }).getAttribute("href")).toBe("/api/docs");
    // (Swagger UI's script comes from a CDN, which these machines cannot reach: check what it would load.)
    const docs = await page.request.get(`${baseUrl}/api/docs`);
    expect(await docs.text()).toContain("'/api/openapi.json'");
    const spec = await page.request.get(`${baseUrl}/api/openapi.json`);
    expect(spec.status()).toBe(200);
    expect(Object.keys((await spec.json()).paths)).toContain("/infer/predict");
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("is usable from the keyboard, and in the dark theme", async () => {
    const { page, errors } = await openPage(browser, baseUrl, { colorScheme: "dark" });
    expect(await page.evaluate(() => document.documentElement.classList.contains("dark"))).toBe(true);
    // Tab to the file button and open the picker with Enter. (Waiting for the chooser starts first:
    // Playwright intercepts the dialog only once that wait is registered with the browser.)
    const chooser = page.waitForEvent("filechooser");
    let focused = "";
    for (let i = 0; i < 10 && focused !== "Choose a file"; i++) {
      await page.keyboard.press("Tab");
      focused = await page.evaluate(() => document.activeElement?.textContent?.trim() ?? "");
    }
    expect(focused).toBe("Choose a file");
    await page.keyboard.press("Enter");
    await (await chooser).setFiles(clip("face.mp4"));
    await page.getByRole("button", { name: "Analyse", exact: true }).focus();
    await page.keyboard.press("Enter");
    await page.getByTestId("result").waitFor({ timeout: 60_000 });
    await page.getByTestId("timeline").focus();
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowRight");
    expect(await page.getByTestId("timeline-live").textContent()).toMatch(/^0:02 to 0:03: Happy/);
    await page.keyboard.press("Enter");
    await expect.poll(() => videoTime(page)).toBeGreaterThanOrEqual(2);
    await shot(page, "desktop-dark-result");
    expect(await accessibilityProblems(page)).toEqual([]);

    await page.getByRole("button", { name: "Switch to light theme" }).click();
    expect(await page.evaluate(() => document.documentElement.classList.contains("dark"))).toBe(false);
    expect(errors).toEqual([]);
    await page.context().close();
  });
});
