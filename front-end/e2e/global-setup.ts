/**
 * Once per browser-test run: make the fixture clips, start the real back-end with the embedded
 * default model, and serve the built page (dist/) in front of it with /api forwarded, as in production.
 *
 * MMER_PYTHON picks the interpreter (default: the repository's .venv); the page must be built first
 * (`npm run build`; `make test` does it).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import type { TestProject } from "vitest/node";

import { freePort, start, stop, waitForHttp, type Running } from "./servers";

declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
    apiUrl: string;
    fixtures: string;
    artifacts: string;
  }
}

const here = import.meta.dirname;
const frontEnd = path.resolve(here, "..");
const repo = path.resolve(frontEnd, "..");

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const python = process.env.MMER_PYTHON ?? path.join(repo, ".venv", "bin", "python");
  if (!existsSync(path.join(frontEnd, "dist", "index.html"))) throw new Error("build the page first: npm run build");
  const work = mkdtempSync(path.join(tmpdir(), "mmer-e2e-"));
  const artifacts = path.join(here, "artifacts");
  mkdirSync(artifacts, { recursive: true });
  execFileSync(python, [path.join(here, "fixtures.py"), work], { stdio: "inherit" });

  const servers: Running[] = [];
  const teardown = async () => {
    for (const server of servers.reverse()) await stop(server);
    rmSync(work, { recursive: true, force: true });
  };
  try {
    const apiPort = await freePort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const api = start("back-end", python, ["-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", String(apiPort)], {
      cwd: path.join(repo, "back-end"),
      env: { ...process.env, MMER_MODEL: "", MMER_TMP_DIR: work },
    });
    servers.push(api);
    await waitForHttp(`${apiUrl}/health`, api);

    const pagePort = await freePort();
    const vite = path.join(frontEnd, "node_modules", "vite", "bin", "vite.js");
    const page = start("page", process.execPath, [vite, "preview", "--host", "127.0.0.1", "--port", String(pagePort), "--strictPort"], {
      cwd: frontEnd,
      env: { ...process.env, MMER_API_URL: apiUrl },
    });
    servers.push(page);
    const baseUrl = `http://127.0.0.1:${pagePort}`;
    await waitForHttp(`${baseUrl}/api/health`, page);

    project.provide("baseUrl", baseUrl);
    project.provide("apiUrl", apiUrl);
    project.provide("fixtures", work);
    project.provide("artifacts", artifacts);
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}
