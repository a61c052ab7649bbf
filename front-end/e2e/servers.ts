/** Start and stop the processes the browser tests run against: the back-end and the page in front of it. */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export interface Running {
  name: string;
  process: ChildProcess;
  output: () => string;
}

/** Spawn a server; its output is kept (and printed if it fails) rather than mixed into the test report. */
export function start(name: string, command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Running {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return { name, process: child, output: () => log };
}

export async function waitForHttp(url: string, running: Running, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (running.process.exitCode !== null) {
      throw new Error(`${running.name} exited with ${running.process.exitCode}:\n${running.output()}`);
    }
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${running.name} did not answer ${url} within ${timeoutMs / 1000} s:\n${running.output()}`);
}

export async function stop(running: Running | undefined): Promise<void> {
  if (!running || running.process.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => running.process.once("exit", () => resolve()));
  running.process.kill("SIGTERM");
  const timer = setTimeout(() => running.process.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
