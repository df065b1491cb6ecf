"""gunicorn settings, read by the container image and `make run` alike:

    gunicorn --config python:portal.gunicorn_config 'portal:create_app()'

What differs between places comes from the environment, parsed and checked like the portal's own settings.
"""

from __future__ import annotations

import os

from portal.config import parse_int
from portal.core import metrics


def _setting(name: str, default: int | str, minimum: int = 1) -> int:
    return parse_int(name, os.environ.get(f"PORTAL_{name}", default), minimum=minimum)


# 127.0.0.1 unless told otherwise: the image sets PORTAL_BIND=0.0.0.0:8000, `make run` its own address.
bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8000")
# WEB_CONCURRENCY is the name platforms and gunicorn itself use; PORTAL_WORKERS wins when both are set.
workers = _setting("WORKERS", os.environ.get("WEB_CONCURRENCY") or 2)
# A sync worker silent for longer is killed: an export of a large search streams for a while, so the default is
# generous. The ingress's proxy-read-timeout must be at least as long (k8s/base/ingress.yaml).
timeout = _setting("WORKER_TIMEOUT_SECONDS", 120)
# On SIGTERM (a rollout), requests in flight get this long to finish; the pod's terminationGracePeriodSeconds
# must cover it plus the preStop pause.
graceful_timeout = _setting("GRACEFUL_TIMEOUT_SECONDS", 30)
# Recycle each worker now and then so that a slow leak cannot grow; the jitter keeps them from restarting together.
max_requests = _setting("MAX_REQUESTS", 5000, minimum=0)
max_requests_jitter = max_requests // 10

# The workers' heartbeat files: on tmpfs, because fchmod on a disk-backed file can block a worker, and because
# /dev/shm stays writable when the container's root filesystem is read-only. gunicorn creates them with
# tempfile.mkstemp (a random name, O_EXCL, mode 0600) and unlinks them at once, so a shared folder is safe.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # nosec B108  # mkstemp'd, see above

# The portal writes one JSON line per request itself; gunicorn's own access log would repeat each of them.
accesslog = None
errorlog = "-"
# No control socket: nothing uses gunicornc, and it would be created under $HOME, which the container cannot write.
control_socket_disable = True

# Metrics across workers (PROMETHEUS_MULTIPROC_DIR, README "Operations"): the directory is emptied at start, and a
# finished worker's live gauges are dropped.
on_starting = metrics.on_starting
child_exit = metrics.child_exit
