#!/usr/bin/env python3
"""This machine's pip and npm settings, rewritten for use inside a docker build.

A build container sees none of the host's configuration: not its pip.conf (a mirror, local wheel
folders), not its npm registry, not the CA certificates its network needs. The Dockerfiles take
them as BuildKit secrets (`pip.conf`, `npmrc`, `ca-bundle`), which leave no trace in the images;
this script writes those three files into OUT_DIR from what pip and npm report here:

- pip's index-url and http(s) extra-index-urls and find-links are kept as they are; find-links that
  are local folders are listed in OUT_DIR/serve.txt, one per line, for the caller to serve over
  loopback HTTP (the build then runs on the host's network) as http://127.0.0.1:PORT/<n>/;
  file:// indexes are left out, with a note (PyPI or the http index stands in for them);
- pip's cert (or npm's cafile, or the system bundle) becomes `ca-bundle`, which both pip.conf and
  npmrc then name at /run/secrets/ca-bundle, where the build mounts it;
- npm's registry is kept.

Usage: docker-build-config.py OUT_DIR PORT. Prints what it chose, one line each, on stderr.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SECRET_CA = "/run/secrets/ca-bundle"
SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def pip_settings() -> dict[str, str]:
    """pip's effective settings (environment over files), as `pip config list` prints them."""
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        out = ""
    found: dict[str, tuple[int, str]] = {}
    for line in out.splitlines():
        match = re.match(r"^(:env:|[a-z]+)\.([a-z-]+)='(.*)'$", line.strip())
        if not match:
            continue
        source, key, value = match.groups()
        rank = 2 if source == ":env:" else 1
        if key not in found or rank >= found[key][0]:
            found[key] = (rank, value)
    return {key: value for key, (_, value) in found.items()}


def npm_setting(key: str) -> str:
    """One npm setting, or '' when npm is not here or the setting is unset."""
    npm = shutil.which("npm")
    if npm is None:
        return ""
    try:
        value = subprocess.run([npm, "config", "get", key], capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return "" if value in ("null", "undefined") else value


def note(message: str) -> None:
    print(f"build config: {message}", file=sys.stderr)


def main(out_dir: Path, port: int) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    pip = pip_settings()
    pip_lines = ["[global]"]
    if pip.get("index-url"):
        pip_lines.append(f"index-url = {pip['index-url']}")
        note(f"pip index-url {pip['index-url']}")
    extra = [url for url in pip.get("extra-index-url", "").split() if url.startswith(("http://", "https://"))]
    for url in pip.get("extra-index-url", "").split():
        if url not in extra:
            note(f"pip extra-index-url {url} left out (not reachable from a build)")
    if extra:
        pip_lines.append("extra-index-url = " + " ".join(extra))
    links: list[str] = []
    served: list[str] = []
    for link in pip.get("find-links", "").split():
        if link.startswith(("http://", "https://")):
            links.append(link)
        elif Path(link.removeprefix("file://")).is_dir():
            links.append(f"http://127.0.0.1:{port}/{len(served)}/")
            served.append(str(Path(link.removeprefix("file://")).resolve()))
            note(f"pip find-links {link} served at {links[-1]}")
    if links:
        pip_lines.append("find-links = " + " ".join(links))
        pip_lines.append("trusted-host = 127.0.0.1")

    ca = os.environ.get("MMER_BUILD_CA") or pip.get("cert") or npm_setting("cafile")
    if not ca and SYSTEM_BUNDLE.is_file():
        ca = str(SYSTEM_BUNDLE)
    npm_lines = []
    if ca and Path(ca).is_file():
        shutil.copyfile(ca, out_dir / "ca-bundle")
        pip_lines.append(f"cert = {SECRET_CA}")
        npm_lines.append(f"cafile={SECRET_CA}")
        note(f"CA certificates from {ca}")
    else:
        (out_dir / "ca-bundle").write_text("")
    registry = npm_setting("registry")
    if registry:
        npm_lines.append(f"registry={registry}")
        note(f"npm registry {registry}")
    (out_dir / "pip.conf").write_text("\n".join(pip_lines) + "\n")
    (out_dir / "npmrc").write_text("".join(f"{line}\n" for line in npm_lines))
    (out_dir / "serve.txt").write_text("".join(f"{path}\n" for path in served))


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[2].isdigit():
        sys.exit("usage: docker-build-config.py OUT_DIR PORT")
    main(Path(sys.argv[1]), int(sys.argv[2]))
