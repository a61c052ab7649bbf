/**
 * The repository's nginx configs, run for real on loopback with Debian's nginx: front-end/nginx.conf
 * serves the built page, and the root nginx.conf proxies / to it and /api/ to the back-end, exactly
 * as in docker compose. Both are templates; they are filled in here as the nginx image fills them in.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import { start, type Running } from "./servers";

export const NGINX = process.env.NGINX_PATH ?? "/usr/sbin/nginx";
const MIME_TYPES = process.env.NGINX_MIME_TYPES ?? "/etc/nginx/mime.types";

/** ${NAME} → value, as the nginx image's envsubst does; a placeholder left unfilled is an error. */
export function renderTemplate(text: string, values: Record<string, string>): string {
  const out = text.replace(/\$\{([A-Z0-9_]+)\}/g, (whole, name: string) => values[name] ?? whole);
  const missing = [...out.matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((m) => m[1]);
  if (missing.length) throw new Error(`no value for ${[...new Set(missing)].join(", ")}`);
  return out;
}

export interface ProxyOptions {
  repo: string;
  work: string;
  apiUpstream: string;
  pageRoot: string;
  pagePort: number;
  proxyPort: number;
  maxUploadMb: number;
}

export function startNginx(options: ProxyOptions): Running {
  if (!existsSync(NGINX)) throw new Error(`no nginx at ${NGINX}: install Debian's nginx (make setup-system) or set NGINX_PATH`);
  const dir = path.join(options.work, "nginx");
  for (const sub of ["", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(path.join(dir, sub), { recursive: true });
  const page = renderTemplate(readFileSync(path.join(options.repo, "front-end", "nginx.conf"), "utf8"), {
    MMER_PAGE_PORT: `127.0.0.1:${options.pagePort}`,
    MMER_PAGE_ROOT: options.pageRoot,
  });
  const proxy = renderTemplate(readFileSync(path.join(options.repo, "nginx.conf"), "utf8"), {
    MMER_PROXY_PORT: `127.0.0.1:${options.proxyPort}`,
    MMER_API_UPSTREAM: options.apiUpstream,
    MMER_PAGE_UPSTREAM: `127.0.0.1:${options.pagePort}`,
    MMER_MAX_UPLOAD_MB: String(options.maxUploadMb),
  });
  // What the nginx image's own nginx.conf provides around conf.d/, with every path inside `dir`.
  const main = `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
daemon off;
${process.getuid?.() === 0 ? "user root;" : ""}
events { worker_connections 256; }
http {
    include ${MIME_TYPES};
    default_type application/octet-stream;
    access_log ${dir}/access.log;
    sendfile on;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;

    # front-end/nginx.conf
${page}
    # nginx.conf
${proxy}
}
`;
  const conf = path.join(dir, "nginx.conf");
  writeFileSync(conf, main);
  try {
    execFileSync(NGINX, ["-t", "-q", "-p", dir, "-c", conf], { stdio: "pipe" });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? String(error);
    throw new Error(`nginx refused the configuration:\n${stderr}`);
  }
  return start("nginx", NGINX, ["-p", dir, "-c", conf]);
}
