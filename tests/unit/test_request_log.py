"""Logs on stdout: one JSON line per request, the request id on every line and in the response."""

from __future__ import annotations

import json
import logging
import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from flask import Flask

from portal.auth.tokens import TOKEN_PATTERN, revoke
from portal.core import logs
from portal.core.access import PUBLIC, Scope
from portal.core.models import utcnow
from tests.unit.builders import make_application, make_token, make_user
from tests.unit.conftest import CSRF_TOKEN

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def log_lines(capsys) -> list[dict]:
    """The JSON lines written to stdout since the last call."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def request_lines(capsys) -> list[dict]:
    return [line for line in log_lines(capsys) if line["logger"] == "portal.request"]


def test_a_request_writes_one_json_line(anonymous_client, capsys):
    capsys.readouterr()
    response = anonymous_client.get("/healthz")
    [line] = request_lines(capsys)
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(line["request_id"])
    assert (line["method"], line["endpoint"], line["path"], line["status"]) == (
        "GET",
        "health.healthz",
        "/healthz",
        200,
    )
    assert line["bytes"] == len(response.get_data())
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["level"] == "info" and line["user"] is None
    assert line["timestamp"].endswith("+00:00")


def test_the_signed_in_login_is_named(client, capsys):
    capsys.readouterr()
    client.get("/api/v1/me")
    [line] = request_lines(capsys)
    assert line["user"] == "test-reader"


def test_a_token_caller_is_named_by_token_id_never_by_secret(anonymous_client, session, capsys):
    token, secret = make_token(session, make_user(session, "log-script", "reader"), Scope.READ)
    capsys.readouterr()
    anonymous_client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    output = capsys.readouterr().out
    [line] = [json.loads(text) for text in output.splitlines() if '"portal.request"' in text]
    assert line["user"] == f"token:{token.id}"
    assert secret not in output and secret[:12] not in output


def refused_token(session, case: str) -> tuple[str, str]:
    """(the secret of a token that `case` makes unusable, the API path to call with it)."""
    if case == "unknown":
        return "ref_abcdefgh_" + "x" * 43, "/api/v1/me"
    token, secret = make_token(session, make_user(session, "log-script", "reader"), Scope.INGEST)
    if case == "revoked":
        revoke(token)
    elif case == "expired":
        token.expires_at = utcnow() - timedelta(seconds=1)
    session.flush()
    return secret, "/api/v1/applications" if case == "missing-scope" else "/api/v1/me"


@pytest.mark.parametrize("case", ["unknown", "revoked", "expired", "missing-scope"])
def test_a_refused_token_is_never_logged(anonymous_client, session, capsys, case):
    secret, path = refused_token(session, case)
    capsys.readouterr()
    response = anonymous_client.get(path, headers={"Authorization": f"Bearer {secret}"})
    output = capsys.readouterr().out
    assert response.status_code in (401, 403)
    [line] = [json.loads(text) for text in output.splitlines() if '"portal.request"' in text]
    assert line["status"] == response.status_code
    assert secret not in output and secret[13:] not in output  # nor its random part alone


def test_creating_a_token_logs_its_public_prefix_never_its_secret(client, session, capsys):
    capsys.readouterr()
    page = client.post(
        "/account/tokens", data={"name": "nightly", "scope": "read", "csrf_token": CSRF_TOKEN, "expires_in_days": "30"}
    ).get_data(as_text=True)
    output = capsys.readouterr().out
    secret = TOKEN_PATTERN.search(page).group(0)  # type: ignore[union-attr]
    assert f"API token {secret[:12]} created by test-reader" in output
    assert secret not in output and secret[13:] not in output  # nor its random part alone


def test_the_query_string_is_never_logged(anonymous_client, capsys):
    capsys.readouterr()
    anonymous_client.get("/auth/callback?code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj")
    output = capsys.readouterr().out
    assert '"path": "/auth/callback"' in output
    assert "SplxlOBeZQQYbYS6WxSbIA" not in output and "af0ifjsldkj" not in output


def test_a_sane_incoming_request_id_is_kept(anonymous_client, capsys):
    capsys.readouterr()
    response = anonymous_client.get("/healthz", headers={"X-Request-ID": "ingress-7f3a.b_9"})
    assert response.headers["X-Request-ID"] == "ingress-7f3a.b_9"
    assert request_lines(capsys)[0]["request_id"] == "ingress-7f3a.b_9"


@pytest.mark.parametrize(
    "forged",
    ["abc\ninjected", "abc\r\nX-Admin: 1", "x" * 65, '"}{"level": "error', "<script>", "é1", "a b", ""],
    ids=["newline", "header-injection", "too-long", "json-breaking", "markup", "non-ascii", "space", "empty"],
)
def test_a_forged_request_id_is_replaced(anonymous_client, capsys, forged):
    capsys.readouterr()
    # Straight into the WSGI environ: the test client, like a proxy, would refuse some of these as a header.
    response = anonymous_client.get("/healthz", environ_overrides={"HTTP_X_REQUEST_ID": forged})
    replaced = response.headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(replaced)
    [line] = request_lines(capsys)
    assert line["request_id"] == replaced


def test_lines_logged_during_a_request_carry_its_id(client, capsys):
    capsys.readouterr()
    response = client.post(
        "/account/tokens", data={"name": "nightly", "scope": "read", "csrf_token": CSRF_TOKEN, "expires_in_days": "30"}
    )
    assert response.status_code == 200
    lines = log_lines(capsys)
    created = [line for line in lines if "created by test-reader" in line["message"]]
    assert created and created[0]["request_id"] == response.headers["X-Request-ID"]
    assert created[0]["logger"] == "portal"


def test_an_unexpected_error_names_its_request_id_in_the_problem_and_the_log(
    app, anonymous_client, capsys, monkeypatch
):
    def broken():
        raise RuntimeError("boom")

    broken.access_policy = PUBLIC  # type: ignore[attr-defined]
    monkeypatch.setitem(app.view_functions, "health.healthz", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    capsys.readouterr()
    response = anonymous_client.get("/healthz", headers={"Accept": "application/json", "X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.get_json()["request_id"] == "req-500"
    assert "req-500" in response.get_json()["detail"]
    lines = log_lines(capsys)
    [error] = [line for line in lines if line["level"] == "error"]
    assert error["request_id"] == "req-500" and "RuntimeError: boom" in error["exception"]
    assert [line["status"] for line in lines if line["logger"] == "portal.request"] == [500]


def test_a_streamed_export_is_logged_once_sent_with_its_size(client, session, capsys):
    make_application(session, "BCA", "Banque de Compensation")
    capsys.readouterr()
    response = client.get("/export?format=csv", buffered=True)
    assert response.status_code == 200
    [line] = request_lines(capsys)
    assert line["bytes"] == len(response.get_data()) > 0
    assert line["endpoint"] == "applications.export"


def test_caplog_still_sees_the_request_line(anonymous_client, caplog):
    with caplog.at_level(logging.INFO, logger="portal.request"):
        anonymous_client.get("/healthz", headers={"X-Request-ID": "caplog-1"})
    [record] = [record for record in caplog.records if record.name == "portal.request"]
    assert record.status == 200 and record.request_id == "caplog-1"


@contextmanager
def logging_with(app, **settings):
    """Logging configured from `settings` for the duration, then from the application's own settings again."""
    other = Flask("logging-under-test")
    other.config.update(settings)
    logs.configure_logging(other)
    try:
        yield
    finally:
        logs.configure_logging(app)


def test_text_format_escapes_control_characters_so_a_url_cannot_forge_a_line(app, anonymous_client, capsys):
    with logging_with(app, LOG_FORMAT="text", LOG_LEVEL="INFO"):
        capsys.readouterr()
        anonymous_client.get("/nothing%0A2026-01-01 INFO [-] portal: forged", headers={"X-Request-ID": "text-1"})
        [line] = capsys.readouterr().out.splitlines()
    assert " INFO [text-1] portal.request: GET /nothing\\n2026-01-01 INFO [-] portal: forged 400 " in line


def test_log_level_applies_to_the_portals_lines_only(app, anonymous_client, capsys):
    with logging_with(app, LOG_FORMAT="json", LOG_LEVEL="WARNING"):
        capsys.readouterr()
        anonymous_client.get("/healthz")
        logging.getLogger("portal.test").warning("still written")
        logging.getLogger("some.library").info("not written: other libraries log warnings and worse")
        lines = log_lines(capsys)
    assert [(line["logger"], line["message"]) for line in lines] == [("portal.test", "still written")]
