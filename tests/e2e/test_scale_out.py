"""Two replicas over one PostgreSQL and one Redis: nothing that matters lives in a process's memory.

Two gunicorn instances (two workers each) on two loopback ports share the database, the secret key and the
Redis prefix, as the replicas behind the ingress do. What is done through one is seen through the other: a
sign-in and a sign-out, an API token and its revocation, the count of failed sign-ins, an import run and what it
applied. Plain HTTP, no browser.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import (
    REDIS_URL,
    Account,
    migrated_database,
    running_gunicorn,
    throwaway_redis_prefix,
)
from tests.e2e.leaks import note_token_secret
from tests.e2e.oidc import free_port
from tests.portal_client import csrf_token, portal_environment, run_once, sign_in, upload_workbook
from tests.unit.imports.workbooks import workbook_bytes

pytestmark = pytest.mark.e2e

TIMEOUT_S = 10
NEW_TOKEN = re.compile(r'id="new-token" class="secret" value="(ref_[^"]+)"')
REVOKE_FORM = re.compile(r'action="(/account/tokens/\d+/revoke)"')


@dataclass(frozen=True)
class Replica:
    url: str
    log_path: Path


@dataclass(frozen=True)
class Replicas:
    first: Replica
    second: Replica
    account: Account  # a local admin


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    """Two portals configured alike on an empty database of their own, each counting its metrics across its
    workers (PROMETHEUS_MULTIPROC_DIR, an empty directory per portal, as an emptyDir per pod)."""
    account = Account("scaleadmin", secrets.token_urlsafe(18))
    secret_key = secrets.token_hex(32)
    folder = tmp_path_factory.mktemp("scale-out")
    with (
        migrated_database(secret_key, [(account, "admin")]) as database_url,
        throwaway_redis_prefix() as prefix,
    ):
        settings = {"DATABASE_URL": database_url, "SECRET_KEY": secret_key, "REDIS_URL": REDIS_URL}
        settings["REDIS_PREFIX"] = prefix

        def environment(name: str) -> dict[str, str]:
            (folder / name).mkdir()
            return {**portal_environment(**settings), "PROMETHEUS_MULTIPROC_DIR": str(folder / name)}

        first_log, second_log = folder / "first.log", folder / "second.log"
        with (
            running_gunicorn(free_port(), environment("first-metrics"), first_log) as first,
            running_gunicorn(free_port(), environment("second-metrics"), second_log) as second,
        ):
            yield Replicas(Replica(first, first_log), Replica(second, second_log), account)


def me(portal: str, **options) -> requests.Response:
    return requests.get(f"{portal}/api/v1/me", allow_redirects=False, timeout=TIMEOUT_S, **options)


def test_a_session_opened_on_one_replica_is_valid_on_the_other(replicas: Replicas) -> None:
    first, second = replicas.first.url, replicas.second.url
    browser = requests.Session()
    assert sign_in(browser, first, replicas.account.login, replicas.account.password).status_code == 303
    cookies = browser.cookies.get_dict()

    answer = me(second, cookies=cookies)
    assert answer.status_code == 200
    assert (answer.json()["login"], answer.json()["authenticated_by"]) == (replicas.account.login, "session")
    assert requests.get(f"{second}/", cookies=cookies, allow_redirects=False, timeout=TIMEOUT_S).status_code == 200

    # Signing out through the second ends the session for the first too: it lives in the database.
    token = csrf_token(browser, f"{second}/account/tokens")
    signed_out = browser.post(f"{second}/auth/logout", data={"csrf_token": token}, allow_redirects=False)
    assert signed_out.status_code == 303
    assert me(first, cookies=cookies).status_code == 401


def test_an_api_token_made_on_one_replica_works_on_the_other(replicas: Replicas) -> None:
    first, second = replicas.first.url, replicas.second.url
    browser = requests.Session()
    sign_in(browser, first, replicas.account.login, replicas.account.password)
    form = {"name": "scale-out", "scope": "read", "expires_in_days": "30"}
    form["csrf_token"] = csrf_token(browser, f"{first}/account/tokens")
    created = browser.post(f"{first}/account/tokens", data=form, timeout=TIMEOUT_S)
    assert created.status_code == 200
    secret = note_token_secret(NEW_TOKEN.search(created.text).group(1))  # type: ignore[union-attr]
    bearer = {"Authorization": f"Bearer {secret}"}

    answer = me(second, headers=bearer)
    assert answer.status_code == 200 and answer.json()["authenticated_by"] == "token"
    assert me(first, headers=bearer).status_code == 200  # now in the shared token cache

    # Revoked through the second, refused by the first at once: its token cache lives in Redis too.
    revoke_path = REVOKE_FORM.search(browser.get(f"{second}/account/tokens", timeout=TIMEOUT_S).text).group(1)  # type: ignore[union-attr]
    token = csrf_token(browser, f"{second}/account/tokens")
    revoked = browser.post(f"{second}{revoke_path}", data={"csrf_token": token}, allow_redirects=False)
    assert revoked.status_code == 303
    assert me(first, headers=bearer).status_code == 401


def test_failed_sign_ins_are_counted_across_replicas(replicas: Replicas) -> None:
    first, second = replicas.first.url, replicas.second.url
    login = f"nobody-{secrets.token_hex(4)}"
    browser = requests.Session()
    # 5 failures lock an account: 3 through one replica and 2 through the other, so neither saw 5 itself.
    for portal in (first, first, first, second, second):
        assert sign_in(browser, portal, login, "wrong password").status_code == 401
    for portal in (first, second):
        refused = sign_in(browser, portal, login, "wrong password")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


def request_count(portal: str, endpoint: str) -> float:
    scrape = requests.get(f"{portal}/metrics", timeout=TIMEOUT_S)
    scrape.raise_for_status()
    for family in text_string_to_metric_families(scrape.text):
        for sample in family.samples:
            if sample.name == "portal_http_requests_total" and sample.labels["endpoint"] == endpoint:
                return sample.value
    return 0.0


def test_metrics_add_up_every_worker_of_a_replica(replicas: Replicas) -> None:
    second = replicas.second.url
    before = request_count(second, "health.healthz")
    for _ in range(20):
        assert requests.get(f"{second}/healthz", timeout=TIMEOUT_S).status_code == 200
    # Whichever worker answers a scrape, it reports what both did.
    assert {request_count(second, "health.healthz") for _ in range(6)} == {before + 20}


def test_each_request_is_one_json_line_with_the_request_id(replicas: Replicas) -> None:
    answer = requests.get(f"{replicas.first.url}/healthz", headers={"X-Request-ID": "scale-out-42"}, timeout=TIMEOUT_S)
    assert answer.headers["X-Request-ID"] == "scale-out-42"
    lines = [json.loads(line) for line in replicas.first.log_path.read_text().splitlines() if line.startswith("{")]
    [line] = [line for line in lines if line.get("request_id") == "scale-out-42"]
    assert (line["logger"], line["path"], line["status"]) == ("portal.request", "/healthz", 200)


def test_an_import_started_on_one_replica_is_visible_on_the_other(replicas: Replicas) -> None:
    first, second = replicas.first.url, replicas.second.url
    browser = requests.Session()
    assert sign_in(browser, first, replicas.account.login, replicas.account.password).status_code == 303
    workbook = workbook_bytes({"Applications": [["Trigram", "Name", "Status"], ["SCA", "Scale-out Audit", "build"]]})

    run_id = upload_workbook(browser, first, "scale-out.xlsx", workbook)

    # Checked in a thread of the first, ready for review on the second: the run's state lives in the database.
    run = run_once(browser, second, run_id, "ready")
    assert (run["status"], run["mode"], run["filename"]) == ("ready", "dry_run", "scale-out.xlsx")
    assert run["counts"]["create"] == 1
    # Applied through the second (in one of its threads), done as the first sees it.
    form = {"csrf_token": csrf_token(browser, f"{second}/imports/{run_id}")}
    applied = browser.post(f"{second}/imports/{run_id}/apply", data=form, allow_redirects=False, timeout=TIMEOUT_S)
    assert applied.status_code == 303
    run = run_once(browser, first, run_id, "succeeded")
    assert (run["status"], run["mode"], run["changes_written"] > 0) == ("succeeded", "apply", True)

    for portal in (first, second):
        application = browser.get(f"{portal}/api/v1/applications/SCA", timeout=TIMEOUT_S)
        assert application.status_code == 200
        assert (application.json()["name"], application.json()["status"]) == ("Scale-out Audit", "build")
