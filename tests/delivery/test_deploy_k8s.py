"""`make k8s-migrate` and `make k8s-deploy` (deploy/k8s), the pipeline's Migrate and Deploy stages, against a
stand-in kubectl.

No cluster is reachable here, so a stand-in records each kubectl call and answers what a test scripted: these
tests check the order of the calls and what the script does when a migration or a rollout fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
IMAGE = "registry.bank.example/referentiel/referentiel@sha256:" + "0" * 64

FAKE_KUBECTL = """#!{python}
# Records its arguments; answers with the first scripted reply whose words all appear in them.
import json, sys
args = " ".join(sys.argv[1:])
with open({log!r}, "a") as log:
    log.write(args + "\\n")
replies = json.load(open({replies!r}))
for reply in replies:
    if all(word in args for word in reply["when"]):
        if reply.get("once"):
            replies.remove(reply)
            json.dump(replies, open({replies!r}, "w"))
        print(reply.get("out", ""), end="")
        sys.exit(reply.get("exit", 0))
"""


def run_script(
    tmp_path: Path, action: str, replies: list[dict], migrate_timeout_seconds: int = 60
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log, replies_path, kubectl = tmp_path / "calls.log", tmp_path / "replies.json", tmp_path / "kubectl"
    replies_path.write_text(json.dumps(replies))
    kubectl.write_text(FAKE_KUBECTL.format(python=sys.executable, log=str(log), replies=str(replies_path)))
    kubectl.chmod(0o755)
    # A generous timeout by default: the script counts whole seconds, and a slow machine may cross one between polls.
    env = {
        **os.environ,
        "KUBECTL": str(kubectl),
        "POLL_SECONDS": "0.1",
        "MIGRATE_TIMEOUT_SECONDS": str(migrate_timeout_seconds),
    }
    command = ["make", "--no-print-directory", f"k8s-{action}", "OVERLAY=prod", f"IMAGE={IMAGE}"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    return result, log.read_text().splitlines() if log.exists() else []


def test_migrate_applies_only_the_configuration_and_the_job_then_waits_for_it(tmp_path: Path) -> None:
    replies = [
        {"when": ["get job/referentiel-migrate"], "out": "/", "once": True},
        {"when": ["get job/referentiel-migrate"], "out": "1/"},
    ]

    result, calls = run_script(tmp_path, "migrate", replies)

    assert result.returncode == 0, result.stderr
    assert calls[0] == "-n referentiel delete job/referentiel-migrate --ignore-not-found --wait=true"
    assert calls[1].startswith("apply -k ") and calls[1].endswith("app.kubernetes.io/component in (config,migration)")
    polls = [call for call in calls if call.startswith("-n referentiel get job/referentiel-migrate -o jsonpath=")]
    assert len(polls) == 2


def test_migrate_fails_with_the_job_logs_when_the_job_fails(tmp_path: Path) -> None:
    result, calls = run_script(tmp_path, "migrate", [{"when": ["get job/referentiel-migrate"], "out": "/1"}])

    assert result.returncode != 0
    assert "the migration failed" in result.stderr
    assert calls[-1] == "-n referentiel logs job/referentiel-migrate --tail=100"


def test_migrate_gives_up_when_the_job_never_finishes(tmp_path: Path) -> None:
    never_done = [{"when": ["get job/referentiel-migrate"], "out": "/"}]
    result, _ = run_script(tmp_path, "migrate", never_done, migrate_timeout_seconds=1)

    assert result.returncode != 0
    assert "did not finish" in result.stderr


def test_deploy_refuses_when_this_image_was_not_migrated(tmp_path: Path) -> None:
    older = IMAGE.replace("0" * 64, "1" * 64)
    result, calls = run_script(tmp_path, "deploy", [{"when": ["get job/referentiel-migrate"], "out": f"{older} 1"}])

    assert result.returncode != 0
    assert "run 'deploy/k8s migrate' first" in result.stderr
    assert not any(call.startswith("apply") for call in calls)


def test_deploy_applies_everything_and_waits_for_the_rollout(tmp_path: Path) -> None:
    result, calls = run_script(tmp_path, "deploy", [{"when": ["get job/referentiel-migrate"], "out": f"{IMAGE} 1"}])

    assert result.returncode == 0, result.stderr
    assert calls[1] == f"apply -k {REPO}/build/k8s-deploy/prod"
    assert calls[2] == "-n referentiel rollout status deployment/referentiel --timeout=300s"
    assert len(calls) == 3


def test_deploy_rolls_back_when_the_rollout_does_not_complete(tmp_path: Path) -> None:
    replies = [
        {"when": ["get job/referentiel-migrate"], "out": f"{IMAGE} 1"},
        {"when": ["rollout status"], "exit": 1, "once": True},
    ]

    result, calls = run_script(tmp_path, "deploy", replies)

    assert result.returncode != 0
    assert "rolled back" in result.stderr
    assert calls[3] == "-n referentiel rollout undo deployment/referentiel"


def test_render_puts_the_image_by_digest_in_every_workload(tmp_path: Path) -> None:
    result = subprocess.run(
        ["sh", "deploy/k8s", "render", "prod", IMAGE], cwd=REPO, capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
    images = [
        container["image"]
        for document in yaml.safe_load_all(result.stdout)
        if document["kind"] in {"Deployment", "Job", "CronJob"}
        for container in _pod_spec(document)["containers"]
    ]
    assert len(images) >= 3
    assert set(images) == {IMAGE}


def _pod_spec(workload: dict) -> dict:
    template = workload["spec"]["jobTemplate"]["spec"]["template"] if workload["kind"] == "CronJob" else None
    return (template or workload["spec"]["template"])["spec"]
