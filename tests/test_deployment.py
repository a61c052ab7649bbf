"""The deployment files agree with each other and with the service: every variable a config template
needs is provided where it runs, limits match, and health checks gate the start order.
(hadolint and `docker compose config` check the syntax in `make test`; the browser tests run the
nginx configs for real.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from mmer_api.settings import Settings

REPO = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"\$\{([A-Z0-9_]+)\}")


def compose(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


def dockerfile_env(path: Path) -> set[str]:
    """Names set by ENV instructions (continuation lines included)."""
    text = path.read_text().replace("\\\n", " ")
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("ENV "):
            names |= set(re.findall(r"([A-Z0-9_]+)=", line))
    return names


def test_the_proxy_template_gets_every_variable_it_names_from_compose() -> None:
    needed = set(PLACEHOLDER.findall((REPO / "nginx.conf").read_text()))
    assert needed == {"MMER_PROXY_PORT", "MMER_API_UPSTREAM", "MMER_PAGE_UPSTREAM", "MMER_MAX_UPLOAD_MB"}
    proxy = compose("docker-compose.yml")["services"]["proxy"]
    assert needed <= set(proxy["environment"])
    assert "/etc/nginx/templates/" in proxy["volumes"][0]


def test_the_page_template_gets_its_variables_from_the_front_end_image() -> None:
    needed = set(PLACEHOLDER.findall((REPO / "front-end" / "nginx.conf").read_text()))
    assert needed == {"MMER_PAGE_PORT", "MMER_PAGE_ROOT"}
    assert needed <= dockerfile_env(REPO / "front-end" / "Dockerfile")


def test_proxy_and_api_share_one_upload_limit_and_the_upstreams_are_the_services() -> None:
    services = compose("docker-compose.yml")["services"]
    assert services["proxy"]["environment"]["MMER_MAX_UPLOAD_MB"] == services["backend"]["environment"][
        "MMER_MAX_UPLOAD_MB"] == "${MMER_MAX_UPLOAD_MB:-100}"
    assert Settings().max_upload_mb == 100  # the API's own default is the same
    host, port = services["proxy"]["environment"]["MMER_API_UPSTREAM"].split(":")
    assert host in services and port in services[host]["expose"]
    host, port = services["proxy"]["environment"]["MMER_PAGE_UPSTREAM"].split(":")
    assert host in services and port in services[host]["expose"]


def test_the_proxy_starts_only_once_both_services_are_healthy() -> None:
    services = compose("docker-compose.yml")["services"]
    assert services["proxy"]["depends_on"] == {"backend": {"condition": "service_healthy"},
                                                "frontend": {"condition": "service_healthy"}}
    assert "/health" in " ".join(services["backend"]["healthcheck"]["test"])
    for name in ("backend", "frontend", "proxy"):
        assert services[name]["healthcheck"]["test"][0] == "CMD"
    assert services["proxy"]["ports"] == ["${MMER_HTTP_PORT:-80}:80"]


def test_the_back_end_image_runs_as_a_user_with_the_default_model_built_in() -> None:
    text = (REPO / "back-end" / "Dockerfile").read_text()
    assert re.search(r"^USER 10001$", text, re.M)
    assert "mmer weights fetch" in text
    assert "/health" in text.split("HEALTHCHECK", 1)[1]
    assert 'VOLUME ["/models"]' in text
    assert 'CMD ["./start.sh"]' in text
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in text


def test_the_gpu_override_asks_for_a_cuda_build_and_the_device() -> None:
    backend = compose("docker-compose.gpu.yml")["services"]["backend"]
    assert "/whl/cu" in backend["build"]["args"]["TORCH_INDEX_URL"]
    assert backend["environment"]["MMER_DEVICE"] == "${MMER_DEVICE:-cuda}"
    assert backend["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_the_dev_stack_mounts_the_source_and_reloads() -> None:
    services = compose("docker-compose.dev.yml")["services"]
    assert services["backend"]["command"] == ["./start.sh", "--reload"]
    assert "./mmer:/app/mmer:ro" in services["backend"]["volumes"]
    assert services["backend"]["environment"]["PYTHONPATH"] == "/app"
    assert "npm run dev" in " ".join(services["frontend"]["command"])
    assert services["frontend"]["environment"]["MMER_API_URL"] == "http://backend:8000"


@pytest.mark.parametrize("ignore", [".dockerignore", "front-end/.dockerignore"])
def test_build_contexts_leave_out_environments_and_data(ignore: str) -> None:
    lines = set((REPO / ignore).read_text().split())
    expected = {".venv", "data", "training_runs"} if ignore == ".dockerignore" else {"node_modules", "dist"}
    assert expected <= lines
