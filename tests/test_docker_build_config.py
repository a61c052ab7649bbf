"""scripts/docker-build-config.py: this machine's pip/npm settings turned into a docker build's secrets.

Run as the build scripts run it, with pip's and npm's settings given through their environment
variables (which outrank every config file), so the answer does not depend on this machine's files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "docker-build-config.py"


def run(out: Path, env: dict[str, str], port: int = 4321) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    return subprocess.run([sys.executable, str(SCRIPT), str(out), str(port)], env=full, capture_output=True,
                          text=True, check=False)


def test_local_folders_are_served_file_indexes_dropped_and_the_ca_named_at_its_secret_path(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    ca = tmp_path / "corp-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    done = run(tmp_path / "out", {
        "PIP_INDEX_URL": "https://mirror.example/pypi/simple",
        "PIP_EXTRA_INDEX_URL": "file:///opt/local-index/simple http://extra.example/simple",
        "PIP_FIND_LINKS": f"{wheels} https://links.example/wheels/ {tmp_path / 'missing'}",
        "PIP_CERT": str(ca),
        "NPM_CONFIG_REGISTRY": "https://npm.example/",
    })
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    pip_conf = (out / "pip.conf").read_text().splitlines()
    assert pip_conf[0] == "[global]"
    assert "index-url = https://mirror.example/pypi/simple" in pip_conf
    # A file:// index is not inside the build; the http one is kept.
    assert "extra-index-url = http://extra.example/simple" in pip_conf
    assert "find-links = http://127.0.0.1:4321/0/ https://links.example/wheels/" in pip_conf
    assert "trusted-host = 127.0.0.1" in pip_conf
    assert "cert = /run/secrets/ca-bundle" in pip_conf
    assert (out / "serve.txt").read_text() == f"{wheels.resolve()}\n"
    assert (out / "ca-bundle").read_text() == ca.read_text()
    assert "left out" in done.stderr and "file:///opt/local-index/simple" in done.stderr
    if shutil.which("npm"):
        assert (out / "npmrc").read_text() == "cafile=/run/secrets/ca-bundle\nregistry=https://npm.example/\n"


def test_a_plain_machine_gives_a_plain_config(tmp_path: Path) -> None:
    # No mirror and no local folders: the build then uses PyPI's and npm's defaults.
    done = run(tmp_path / "out", {"PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": "",
                                  "PIP_INDEX_URL": "", "MMER_BUILD_CA": "", "PIP_CERT": ""})
    assert done.returncode == 0, done.stderr
    pip_conf = (tmp_path / "out" / "pip.conf").read_text()
    assert "find-links" not in pip_conf and "index-url" not in pip_conf
    assert (tmp_path / "out" / "serve.txt").read_text() == ""


@pytest.mark.parametrize("args", [[], ["out"], ["out", "eighty"]])
def test_bad_arguments_say_how_to_call_it(tmp_path: Path, args: list[str]) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=tmp_path,
                          check=False)
    assert done.returncode != 0
    assert "usage: docker-build-config.py OUT_DIR PORT" in done.stderr
