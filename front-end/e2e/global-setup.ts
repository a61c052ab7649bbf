/**
 * Once per browser-test run: make the fixture clips, start the real back-end with the embedded
 * default model, and put the built page (dist/) and the API behind the repository's nginx.conf, as in
 * production (MMER_E2E_FRONT=preview uses `vite preview` instead, where nginx is not installed).
 *
 * MMER_PYTHON picks the interpreter (default: the repository's .venv); the page must be built first
 * (`npm run build`; `make test` does it).
 *
 * MMER_E2E_BASE_URL=http://HOST:PORT runs the tests against a stack that is already up instead (the
 * docker compose one in `make compose-test`: the page at /, the API at /api/, behind the repository's
 * nginx.conf), whose upload limit MMER_E2E_MAX_UPLOAD_MB gives; nothing is started, and dist/ is not
 * needed.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import type { TestProject } from "vitest/node";

import { startNginx } from "./nginx";
import { freePort, start, stop, waitForHttp, type Running } from "./servers";

declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
    apiUrl: string;
    front: string;
    maxUploadMb: number;
    fixtures: string;
    artifacts: string;
  }
}

const here = import.meta.dirname;
/** Small, so that the proxy's and the API's size limits can be tested with small files. */
const MAX_UPLOAD_MB = 2;
const frontEnd = path.resolve(here, "..");
const repo = path.resolve(frontEnd, "..");

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const python = process.env.MMER_PYTHON ?? path.join(repo, ".venv", "bin", "python");
  const external = process.env.MMER_E2E_BASE_URL?.replace(/\/+$/, "");
  if (!external && !existsSync(path.join(frontEnd, "dist", "index.html"))) throw new Error("build the page first: npm run build");
  const work = mkdtempSync(path.join(tmpdir(), "mmer-e2e-"));
  const artifacts = path.join(here, "artifacts");
  mkdirSync(artifacts, { recursive: true });
  execFileSync(python, [path.join(here, "fixtures.py"), work], { stdio: "inherit" });

  const servers: Running[] = [];
  const teardown = async () => {
    for (const server of servers.reverse()) await stop(server);
    rmSync(work, { recursive: true, force: true });
  };
  if (external) {
    const maxUploadMb = Number(process.env.MMER_E2E_MAX_UPLOAD_MB ?? "100");
    if (!(maxUploadMb > 0)) throw new Error(`MMER_E2E_MAX_UPLOAD_MB must be a positive number of MB, not ${process.env.MMER_E2E_MAX_UPLOAD_MB}`);
    const health = await fetch(`${external}/api/health`).catch(async (error: unknown) => {
      await teardown();
      throw new Error(`the stack at ${external} does not answer: ${String(error)}`);
    });
    if (!health.ok) {
      await teardown();
      throw new Error(`${external}/api/health answered ${health.status}`);
    }
    project.provide("baseUrl", external);
    project.provide("apiUrl", `${external}/api`);
    project.provide("front", "external");
    project.provide("maxUploadMb", maxUploadMb);
    project.provide("fixtures", work);
    project.provide("artifacts", artifacts);
    return teardown;
  }
  try {
    const apiPort = await freePort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const api = start("back-end", python, ["-m", "uvicorn", "mmer_api.main:app", "--host", "127.0.0.1", "--port", String(apiPort)], {
      cwd: path.join(repo, "back-end"),
      env: { ...process.env, MMER_MODEL: "", MMER_TMP_DIR: work, MMER_MAX_UPLOAD_MB: String(MAX_UPLOAD_MB) },
    });
    servers.push(api);
    await waitForHttp(`${apiUrl}/health`, api);

    const front = process.env.MMER_E2E_FRONT ?? "nginx";
    let baseUrl: string;
    if (front === "nginx") {
      const [pagePort, proxyPort] = [await freePort(), await freePort()];
      const proxy = startNginx({
        repo,
        work,
        apiUpstream: `127.0.0.1:${apiPort}`,
        pageRoot: path.join(frontEnd, "dist"),
        pagePort,
        proxyPort,
        maxUploadMb: MAX_UPLOAD_MB,
      });
      servers.push(proxy);
      baseUrl = `http://127.0.0.1:${proxyPort}`;
      await waitForHttp(`${baseUrl}/api/health`, proxy);
    } else if (front === "preview") {
      const pagePort = await freePort();
      const vite = path.join(frontEnd, "node_modules", "vite", "bin", "vite.js");
      const page = start("page", process.execPath, [vite, "preview", "--host", "127.0.0.1", "--port", String(pagePort), "--strictPort"], {
        cwd: frontEnd,
        env: { ...process.env, MMER_API_URL: apiUrl },
      });
      servers.push(page);
      baseUrl = `http://127.0.0.1:${pagePort}`;
      await waitForHttp(`${baseUrl}/api/health`, page);
    } else {
      throw new Error(`MMER_E2E_FRONT must be nginx or preview, not ${front}`);
    }

    project.provide("baseUrl", baseUrl);
    project.provide("apiUrl", apiUrl);
    project.provide("front", front);
    project.provide("maxUploadMb", MAX_UPLOAD_MB);
    project.provide("fixtures", work);
    project.provide("artifacts", artifacts);
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}
