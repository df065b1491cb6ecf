"""Portal pages benchmark: the htmx search fragment under load, and the first page load in Chromium.

It reuses the search benchmark's dataset and query mix (bench/search_bench.py), signs a browser user in
through the real sign-in form, then:

1. load: wrk asks the search region (`/?q=...` with `HX-Request: true`, the request htmx sends while
   someone types) with the mix from N connections for D seconds, without and with the Redis cache;
2. first page load: Debian's Chromium opens the signed-in home page with an empty cache; the bytes
   transferred (as the network reports them) and the requests to any other host are counted.

Only loopback addresses are used, and every phase stops by itself.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import urllib.parse
import urllib.request

from search_bench import (
    ROOT,
    SIZES,
    _flask,
    _portal_env,
    build_mix,
    ensure_dataset,
    print_load,
    redis_reachable,
    run_wrk,
    start_server,
)

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS

TARGETS = {"S": {"rps": 400, "p95_ms": 40}, "L": {"rps": 400, "p95_ms": 40}, "XS": {"rps": 400, "p95_ms": 40}}
FIRST_LOAD_TARGET_BYTES = 150 * 1024
BROWSER_USER = "bench-browser"


def browser_password(url: str) -> str:
    """A fresh password for the bench's browser account (created on first use)."""
    password = secrets.token_urlsafe(18)
    environment = _portal_env(url) | {"BENCH_PASSWORD": password}
    flask = [_flask(), "--app", "portal", "users"]
    created = subprocess.run(
        [*flask, "create", BROWSER_USER, "--role", "reader", "--password-env", "BENCH_PASSWORD"],
        env=environment,
        cwd=ROOT,
        capture_output=True,
    )
    if created.returncode != 0:  # it exists from an earlier run
        subprocess.run(
            [*flask, "reset-password", BROWSER_USER, "--password-env", "BENCH_PASSWORD"],
            env=environment,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    return password


def sign_in(base: str, password: str) -> str:
    """Sign in through the form, as a browser does; return the session cookie's value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/auth/login", timeout=10) as response:
        token = re.search(r'name="csrf_token" value="([^"]+)"', response.read().decode()).group(1)
    form = urllib.parse.urlencode({"login": BROWSER_USER, "password": password, "csrf_token": token, "next": "/"})
    with opener.open(f"{base}/auth/login", data=form.encode(), timeout=10):
        pass
    return next(cookie.value for cookie in jar if cookie.name == "referentiel_session")


def warm_up(base: str, paths: list[str], headers: dict[str, str]) -> None:
    """Ask every search once, so that the measured phase shows what a cache hit costs."""
    for path in paths:
        with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers), timeout=30):
            pass


def first_page_load(base: str, cookie: str) -> tuple[int, int, int]:
    """(bytes transferred, requests, requests to other hosts) for the home page with an empty cache."""
    from playwright.sync_api import sync_playwright

    transferred = {"bytes": 0, "requests": 0}
    foreign: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.add_cookies([{"name": "referentiel_session", "value": cookie, "url": base}])
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})

        def finished(event: dict) -> None:
            transferred["bytes"] += int(event["encodedDataLength"])
            transferred["requests"] += 1

        cdp.on("Network.loadingFinished", finished)
        page.on("request", lambda request: None if request.url.startswith(base) else foreign.append(request.url))
        page.goto(f"{base}/", wait_until="networkidle")
        browser.close()
    return transferred["bytes"], transferred["requests"], len(foreign)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--per-category", type=int, default=100)
    parser.add_argument("--port", type=int, default=5088)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    options = parser.parse_args()

    url = ensure_dataset(options.size, options.seed)
    mix = build_mix(url, options.seed, options.per_category)
    shuffled = random.Random(options.seed).sample(mix, len(mix))
    paths = ["/?" + urllib.parse.urlencode({"q": query.text}) for query in shuffled]
    password = browser_password(url)
    base = f"http://127.0.0.1:{options.port}"
    runs: list[tuple[str, dict[str, float]]] = []
    first_load = None
    # Sessions are signed with the secret key: one key for every server of this run.
    os.environ["PORTAL_SECRET_KEY"] = secrets.token_hex(16)
    phases = (
        ("every fragment computed (no cache):", ""),
        ("with the shared Redis cache, warmed by one pass over the mix (popular searches):", options.redis_url),
    )
    for label, redis_url in phases:
        if redis_url and not redis_reachable(redis_url):
            continue
        server = start_server(url, options.port, options.workers, redis_url)
        try:
            cookie = sign_in(base, password)
            headers = {"Cookie": f"referentiel_session={cookie}", "HX-Request": "true"}
            if redis_url:
                warm_up(base, paths, headers)
            runs.append((label, run_wrk(base, paths, headers, options.clients, options.duration, options.threads)))
            if first_load is None:
                first_load = first_page_load(base, cookie)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)

    print(
        f"\nPortal pages benchmark, size {options.size} ({SIZES[options.size]:,} applications), gunicorn "
        f"{options.workers} sync workers, {options.clients} clients, {options.duration} s, PostgreSQL, "
        f"{len(paths)} distinct searches as htmx fragments"
    )
    ok = False
    for label, figures in runs:
        ok = print_load(label, figures, TARGETS[options.size]) or ok
    if first_load is not None:
        size, requests, foreign = first_load
        fits = size <= FIRST_LOAD_TARGET_BYTES and foreign == 0
        print(
            f"  first page load (home, signed in, empty cache): {size / 1024:.1f} KB transferred in {requests} "
            f"requests (target <= {FIRST_LOAD_TARGET_BYTES // 1024} KB), {foreign} to other hosts (target 0)  "
            f"{'OK' if fits else 'MISSED'}"
        )
        ok = ok and fits
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
