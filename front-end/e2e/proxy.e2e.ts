/**
 * The reverse proxy itself (nginx.conf in front of front-end/nginx.conf and the API), over HTTP:
 * routing, the SPA fallback, headers, compression and the shared upload limit.
 */
import { describe, expect, inject, it } from "vitest";

const baseUrl = inject("baseUrl");
const maxUploadMb = inject("maxUploadMb");

// The repository's nginx.conf: run here by Debian's nginx, or by the compose stack's proxy (external).
describe.runIf(["nginx", "external"].includes(inject("front")))("nginx in front of the page and the API", () => {
  it("serves the page at / with the security headers", async () => {
    const response = await fetch(`${baseUrl}/`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('<div id="root"></div>');
    const headers = response.headers;
    expect(headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(headers.get("content-security-policy")).toContain("media-src 'self' blob:");
    expect(headers.get("x-frame-options")).toBe("DENY");
    expect(headers.get("x-content-type-options")).toBe("nosniff");
    expect(headers.get("permissions-policy")).toContain("camera=(self)");
    expect(headers.get("cache-control")).toBe("no-cache");
    expect(headers.get("server")).toBe("nginx");
  });

  it("answers any app path with the page, but a missing asset with 404", async () => {
    const route = await fetch(`${baseUrl}/some/deep/link`);
    expect(route.status).toBe(200);
    expect(await route.text()).toContain('<div id="root"></div>');
    expect((await fetch(`${baseUrl}/assets/nothing-here.js`)).status).toBe(404);
  });

  it("compresses and long-caches the hashed assets", async () => {
    const html = await (await fetch(`${baseUrl}/`)).text();
    const script = html.match(/src="(\/assets\/[^"]+\.js)"/)?.[1];
    expect(script).toBeTruthy();
    const response = await fetch(`${baseUrl}${script}`, { headers: { "Accept-Encoding": "gzip" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-encoding")).toBe("gzip");
    expect(response.headers.get("cache-control")).toContain("immutable");
    expect(response.headers.get("content-type")).toContain("javascript");
  });

  it("forwards /api/ to the API with the prefix removed", async () => {
    expect(await (await fetch(`${baseUrl}/api/health`)).json()).toEqual({ status: "ok" });
    expect(await (await fetch(`${baseUrl}/api/ping`)).json()).toEqual({ message: "pong" });
    const info = await (await fetch(`${baseUrl}/api/`)).json();
    expect(info.limits.max_upload_mb).toBe(maxUploadMb);
    const bare = await fetch(`${baseUrl}/api`, { redirect: "manual" });
    expect(bare.status).toBe(301);
    expect(bare.headers.get("location")).toMatch(/\/api\/$/);
    const missing = await fetch(`${baseUrl}/api/nowhere`);
    expect(missing.status).toBe(404);
    expect((await missing.json()).code).toBe("not_found");
  });

  it("refuses an upload over the API's limit with the API's JSON error", async () => {
    const form = new FormData();
    form.append("file", new Blob([new Uint8Array((maxUploadMb + 1) * 1024 * 1024)]), "big.mp4");
    const response = await fetch(`${baseUrl}/api/infer/predict`, { method: "POST", body: form });
    expect(response.status).toBe(413);
    expect(response.headers.get("content-type")).toContain("application/json");
    const body = await response.json();
    expect(body.code).toBe("too_large");
    expect(body.detail).toContain(`${maxUploadMb} MB`);
  });

  it("lets an upload under the limit through to the API, which judges its bytes", async () => {
    const form = new FormData();
    form.append("file", new Blob(["not a video at all\n".repeat(1000)]), "clip.mp4");
    const response = await fetch(`${baseUrl}/api/infer/predict`, { method: "POST", body: form });
    expect(response.status).toBe(415);
    expect((await response.json()).code).toBe("unsupported_media_type");
  });
});
