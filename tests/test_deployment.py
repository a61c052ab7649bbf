"""The deployment files agree with each other and with the service: every variable a config template
needs is provided where it runs, limits match, and health checks gate the start order.
(hadolint and `docker compose config` check the syntax in `make test`; the browser tests run the
nginx configs for real, and `make compose-test` builds the images and runs the stack.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
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
    assert services["proxy"]["ports"] == ["${MMER_HTTP_BIND:-0.0.0.0}:${MMER_HTTP_PORT:-80}:80"]


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


def test_the_back_end_context_is_an_allow_list_that_holds_what_the_dockerfile_copies() -> None:
    patterns = [line for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*"  # everything out (environments, data, runs, the page)…
    allowed = {line[1:].rstrip("/") for line in patterns if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "mmer", "back-end/mmer_api", "back-end/start.sh"}
    # …and every path the Dockerfile copies from the context is let back in.
    text = (REPO / "back-end" / "Dockerfile").read_text()
    sources = [word for line in text.splitlines() if line.startswith("COPY ") and "--from=" not in line
               for word in line.split()[1:-1]]
    assert sources and all(source.rstrip("/").lstrip("./") in allowed for source in sources), sources
    # The weights the package ships go in with it (mmer/assets/*/*.safetensors).
    assert not any("safetensors" in line for line in patterns)


def test_the_page_context_leaves_out_its_packages_and_build() -> None:
    lines = set((REPO / "front-end" / ".dockerignore").read_text().split())
    assert {"node_modules", "dist"} <= lines


def base_arguments(path: Path) -> tuple[dict[str, str], list[str]]:
    """The Dockerfile's ARG defaults and the image each FROM names."""
    text = path.read_text()
    args = dict(re.findall(r"^ARG ([A-Z_]+)=(\S+)$", text, re.M))
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    return args, froms


def test_base_images_are_arguments_whose_defaults_are_the_public_images() -> None:
    args, froms = base_arguments(REPO / "back-end" / "Dockerfile")
    assert args["PYTHON_IMAGE"] == "python:3.11-slim-bookworm"
    assert froms == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    args, froms = base_arguments(REPO / "front-end" / "Dockerfile")
    assert (args["NODE_IMAGE"], args["NGINX_IMAGE"]) == ("node:20-bookworm-slim", "nginx:1.27-alpine")
    assert froms == ["${NODE_IMAGE}", "${NGINX_IMAGE}"]
    # Compose passes the same defaults, and the proxy runs the page's nginx image.
    services = compose("docker-compose.yml")["services"]
    assert services["backend"]["build"]["args"]["PYTHON_IMAGE"] == "${MMER_PYTHON_IMAGE:-python:3.11-slim-bookworm}"
    assert services["frontend"]["build"]["args"]["NGINX_IMAGE"] == services["proxy"]["image"] == \
        "${MMER_NGINX_IMAGE:-nginx:1.27-alpine}"
    # Nothing of this machine in them: no local image, no mirror, no folder of wheels.
    for path in (REPO / "back-end" / "Dockerfile", REPO / "front-end" / "Dockerfile", REPO / "docker-compose.yml"):
        text = path.read_text()
        assert "mmer-local/" not in text and "/opt/wheels" not in text and "pypi-more" not in text, path


def test_the_compose_test_override_closes_the_back_end_off_and_binds_nothing_else() -> None:
    test = compose("docker-compose.test.yml")
    assert test["networks"]["internal"] == {"internal": True}
    services = test["services"]
    assert services["backend"]["networks"] == services["frontend"]["networks"] == ["internal"]
    assert sorted(services["proxy"]["networks"]) == ["edge", "internal"]
    # No ports, images or commands of its own: what runs is docker-compose.yml's.
    assert all(set(service) <= {"networks", "restart"} for service in services.values())


@pytest.mark.skipif(shutil.which("envsubst") is None, reason="needs envsubst (Debian's gettext-base)")
def test_the_local_nginx_entrypoint_fills_in_set_variables_and_leaves_nginx_own(tmp_path: Path) -> None:
    templates, output = tmp_path / "templates", tmp_path / "conf.d"
    templates.mkdir()
    output.mkdir()
    shutil.copy(REPO / "nginx.conf", templates / "default.conf.template")
    env = {"PATH": os.environ["PATH"], "NGINX_ENVSUBST_TEMPLATE_DIR": str(templates),
           "NGINX_ENVSUBST_OUTPUT_DIR": str(output), "MMER_PROXY_PORT": "80", "MMER_API_UPSTREAM": "backend:8000",
           "MMER_PAGE_UPSTREAM": "frontend:80", "MMER_MAX_UPLOAD_MB": "7"}
    done = subprocess.run(["sh", str(REPO / "docker" / "local-base" / "nginx-entrypoint.sh"), "true"], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    conf = (output / "default.conf").read_text()
    assert "listen 80;" in conf and "server backend:8000;" in conf and "client_max_body_size 7m;" in conf
    assert "${" not in conf
    assert "proxy_set_header Host $host;" in conf  # nginx's own variables untouched
