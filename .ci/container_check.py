"""The container image's start, proved without a container engine (`make container-check`).

1. Installs the portal with deploy/install-app, the script the Dockerfile's build stage runs, into a fresh folder.
2. Takes from the Dockerfile the runtime stage's ENV, its CMD and its HEALTHCHECK, and from the dev overlay as
   rendered by kustomize the ConfigMap and the migration Job's command.
3. Creates a throwaway PostgreSQL database and runs the Job's command on it, then loads a little demo data and
   creates a read token (what an operator does once, docs/deploy.md).
4. Starts the image's CMD on a free loopback port, waits for /readyz, runs the image's HEALTHCHECK and
   `make smoke` (the pipeline's Smoke stage: one authenticated search), reads /metrics, then stops gunicorn
   with SIGTERM as Kubernetes does and checks that it exits cleanly.

Everything is removed afterwards. Any failure exits non-zero with what failed and gunicorn's output.
Run with the delivery virtualenv's Python (it needs PyYAML), from the repository root.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
IMAGE_ROOT = "/opt/referentiel"  # where the Dockerfile installs the portal (its PORTAL_ROOT)
MAINTENANCE_URL = os.environ.get("PORTAL_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 40  # above gunicorn's graceful timeout (30 s)


class CheckFailed(Exception):
    pass


def step(message: str) -> None:
    print(f"container-check: {message}", flush=True)


def run(command: list[str], env: dict[str, str] | None = None, capture: bool = False) -> str:
    """Runs `command`; with `env` (the container's), in the image's WORKDIR, where no portal/ folder can shadow
    the installed wheel (flask and gunicorn put the current folder on sys.path)."""
    cwd = env["PORTAL_ROOT"] if env else REPO
    result = subprocess.run(command, env=env, cwd=cwd, text=True, capture_output=capture, check=False)
    if result.returncode != 0:
        output = (result.stdout or "") + (result.stderr or "") if capture else ""
        raise CheckFailed(f"{shlex.join(command)} exited with {result.returncode}\n{output}")
    return result.stdout if capture else ""


def dockerfile_runtime() -> tuple[dict[str, str], list[str], list[str]]:
    """The last stage's ENV (in order), CMD and HEALTHCHECK command, as exec-form lists."""
    text = re.sub(r"\\\n\s*", " ", (REPO / "Dockerfile").read_text())  # join continuation lines
    stage = text.rsplit("\nFROM ", 1)[1]
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.+)$", stage, re.MULTILINE):
        for pair in shlex.split(line):
            name, _, value = pair.partition("=")
            env[name] = re.sub(r"\$(\w+)", lambda m: env.get(m[1], os.environ.get(m[1], "")), value)
    cmd = re.search(r"^CMD (\[.+\])$", stage, re.MULTILINE)
    healthcheck = re.search(r"^HEALTHCHECK .*?CMD (\[.+\])$", stage, re.MULTILINE)
    if not cmd or not healthcheck:
        raise CheckFailed("the Dockerfile's runtime stage has no exec-form CMD or HEALTHCHECK")
    return env, json.loads(cmd[1]), json.loads(healthcheck[1])


def rendered_overlay(overlay: str) -> list[dict[str, Any]]:
    output = run(["kubectl", "kustomize", f"k8s/overlays/{overlay}"], capture=True)
    return [document for document in yaml.safe_load_all(output) if document]


def find(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for document in documents:
        if document["kind"] == kind and document["metadata"]["name"].startswith(name):
            return document
    raise CheckFailed(f"no {kind} {name} in the rendered overlay")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_ready(process: subprocess.Popen[str], base_url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CheckFailed(f"gunicorn exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{base_url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise CheckFailed(f"/readyz did not answer 200 within {READY_TIMEOUT_SECONDS} s")


def check_metrics(base_url: str, token: str) -> None:
    """/metrics adds up the workers' numbers: the config file's hooks and PROMETHEUS_MULTIPROC_DIR work together."""
    request = urllib.request.Request(f"{base_url}/metrics", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read().decode()
    if 'portal_http_requests_total{endpoint="health.readyz"' not in body:
        raise CheckFailed(f"/metrics counts no request to /readyz:\n{body[:2000]}")
    step("/metrics counts the requests")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="referentiel-container-check-"))
    database = f"referentiel_container_check_{os.getpid()}"
    database_url = MAINTENANCE_URL.rsplit("/", 1)[0] + "/" + database
    log_path = work / "gunicorn.log"
    gunicorn: subprocess.Popen[str] | None = None
    database_created = False
    try:
        step("install the wheel as the Dockerfile does (deploy/install-app)")
        started = time.monotonic()
        run(["sh", "deploy/install-app", ".", str(work / "app")])
        step(f"installed in {time.monotonic() - started:.0f} s")

        image_env, cmd, healthcheck = dockerfile_runtime()
        documents = rendered_overlay("dev")
        config = find(documents, "ConfigMap", "referentiel-config")["data"]
        migrate = find(documents, "Job", "referentiel-migrate")["spec"]["template"]["spec"]["containers"][0]["command"]
        web = find(documents, "Deployment", "referentiel")["spec"]["template"]["spec"]["containers"][0]
        if "command" in web or "args" in web:
            raise CheckFailed("the Deployment overrides the image's CMD: check that command instead")

        port = free_port()
        metrics_token = secrets.token_hex(32)
        base_url = f"http://127.0.0.1:{port}"
        env = {
            "HOME": str(work),
            "LANG": "C.UTF-8",
            # The image's paths, moved into this check's folder (/tmp is the pod's own emptyDir).
            **{
                name: value.replace("/tmp/", f"{work}/tmp/").replace(IMAGE_ROOT, str(work / "app"))
                for name, value in image_env.items()
            },
            **config,
            # What the Secret referentiel-secrets holds (k8s/secret.example.yaml), for this throwaway database.
            "PORTAL_SECRET_KEY": secrets.token_hex(32),
            "PORTAL_DATABASE_URL": database_url,
            "PORTAL_OIDC_CLIENT_SECRET": "container-check",
            "PORTAL_METRICS_TOKEN": metrics_token,
            # Loopback and a free port instead of the container's 0.0.0.0:8000.
            "PORTAL_BIND": f"127.0.0.1:{port}",
        }

        installed = run(["python", "-c", "import portal; print(portal.__file__)"], env, capture=True).strip()
        if not installed.startswith(str(work / "app" / "venv")):
            raise CheckFailed(f"the portal imported is {installed}, not the installed wheel")

        step(f"create the database {database}")
        run(["psql", "-q", MAINTENANCE_URL, "-c", f"CREATE DATABASE {database}"])
        database_created = True
        step(f"migrate as the Job does: {shlex.join(migrate)}")
        run(migrate, env)
        run(["flask", "--app", "portal", "demo-data", "--size", "XS", "--applications", "200"], env)
        run(["flask", "--app", "portal", "users", "create", "smoke", "--role", "reader", "--no-password"], env)
        token = run(
            ["flask", "--app", "portal", "tokens", "create", "--user", "smoke", "--name", "smoke", "--scope", "read"],
            env,
            capture=True,
        ).strip()
        trigram = run(
            ["psql", "-qAt", database_url, "-c", "SELECT trigram FROM application ORDER BY trigram LIMIT 1"],
            capture=True,
        ).strip()

        step(f"start the image's CMD on {base_url}: {shlex.join(cmd)}")
        with log_path.open("w") as log:
            gunicorn = subprocess.Popen(cmd, env=env, cwd=env["PORTAL_ROOT"], stdout=log, stderr=log, text=True)
        wait_until_ready(gunicorn, base_url)
        step("ready; run the image's HEALTHCHECK")
        run(healthcheck, env)
        step("run the pipeline's Smoke stage against it: make smoke")
        smoke = ["make", "--no-print-directory", "-C", str(REPO), "smoke", f"SMOKE_URL={base_url}"]
        run([*smoke, f"SMOKE_ARGS=--query {trigram} --expect-results"], {**env, "REFERENTIEL_TOKEN": token})

        check_metrics(base_url, metrics_token)

        step("stop gunicorn with SIGTERM, as Kubernetes does")
        gunicorn.send_signal(signal.SIGTERM)
        code = gunicorn.wait(timeout=STOP_TIMEOUT_SECONDS)
        if code != 0:
            raise CheckFailed(f"gunicorn exited with {code} on SIGTERM")
        step("passed")
        return 0
    except (CheckFailed, subprocess.TimeoutExpired, OSError) as error:  # OSError: urllib's errors too
        print(f"container-check: FAILED: {error}", file=sys.stderr)
        if log_path.exists():
            print(f"--- gunicorn output\n{log_path.read_text()[-5000:]}", file=sys.stderr)
        return 1
    finally:
        if gunicorn is not None and gunicorn.poll() is None:
            gunicorn.kill()
            gunicorn.wait()
        if database_created:
            subprocess.run(
                ["psql", "-q", MAINTENANCE_URL, "-c", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"], check=False
            )
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
