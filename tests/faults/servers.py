"""The processes the fault tests break: a PostgreSQL cluster of their own and gunicorn started as the image starts it.

The cluster is a throwaway one (`initdb` into a temporary folder, its own loopback port, trust authentication,
fsync off), so that stopping it hurts nobody else: the unit and end-to-end tests share the machine's server.
PostgreSQL refuses to run as root; as root (CI runs `.ci/run` as root), its commands run as the `postgres` OS user.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.e2e.oidc import stop_process, wait_until_answering
from tests.portal_client import BIN, REPO_ROOT, log_tail, wait_for

POSTGRESQL_VERSION = "15"
POSTGRESQL_BIN = Path(os.environ.get("FAULTS_POSTGRESQL_BIN", f"/usr/lib/postgresql/{POSTGRESQL_VERSION}/bin"))
DATABASE = "referentiel"
PG_CTL_TIMEOUT_S = 30
READY_TIMEOUT_S = 30.0


def _as_postgres(command: list[str]) -> list[str]:
    """`command` run as the postgres OS user when this process is root, as itself otherwise."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass(frozen=True)
class Cluster:
    """A PostgreSQL cluster in `folder` (data, log, socket), listening on 127.0.0.1:`port`."""

    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "postgresql.log"

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def _pg(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = _as_postgres([str(POSTGRESQL_BIN / program), *args])
        result = subprocess.run(command, capture_output=True, text=True, timeout=PG_CTL_TIMEOUT_S + 5, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}\n"
                f"last lines of {self.log}:\n{log_tail(self.log)}"
            )
        return result

    def init(self) -> None:
        self._pg(
            "initdb",
            *("--pgdata", str(self.data), "--username", "postgres", "--auth", "trust"),
            *("--encoding", "UTF8", "--locale", "C.UTF-8", "--no-sync", "--no-instructions"),
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.folder}'",
            # Throwaway data: durability against a crash of the machine buys nothing here, speed does. A crash of
            # PostgreSQL alone (`-m immediate`) must still lose no commit, as in production: each commit's WAL is
            # handed to the kernel before the commit returns (`synchronous_commit`), not flushed to the disk.
            # Asynchronous commits would lose the last few hundred milliseconds of commits in such a crash.
            "fsync": "off",
            "synchronous_commit": "on",
            "full_page_writes": "off",
        }
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# tests/faults\n" + "".join(f"{name} = {value}\n" for name, value in settings.items()))

    def start(self) -> None:
        """Start the cluster and wait until it accepts connections."""
        self._pg("pg_ctl", "start", "--pgdata", str(self.data), "--log", str(self.log), "--wait", "--timeout", "30")

    def stop(self, mode: str) -> None:
        """Stop the cluster: `fast` ends every session (each backend is told to terminate), `immediate` kills the
        server without a shutdown (its next start recovers from the write-ahead log, as after a crash)."""
        self._pg("pg_ctl", "stop", "--pgdata", str(self.data), "--mode", mode, "--wait", "--timeout", "30")

    def is_running(self) -> bool:
        return self._pg("pg_ctl", "status", "--pgdata", str(self.data), check=False).returncode == 0


@contextmanager
def throwaway_cluster(port: int) -> Iterator[Cluster]:
    """A new cluster on 127.0.0.1:`port`, running, with an empty database `DATABASE`; stopped and removed on exit,
    whatever happened meanwhile."""
    if not (POSTGRESQL_BIN / "initdb").is_file():
        raise RuntimeError(
            f"PostgreSQL {POSTGRESQL_VERSION}'s server programs are not in {POSTGRESQL_BIN}: install postgresql-"
            f"{POSTGRESQL_VERSION} (or point FAULTS_POSTGRESQL_BIN at another version's bin folder)"
        )
    folder = Path(tempfile.mkdtemp(prefix="referentiel-faults-"))
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        os.chown(folder, postgres.pw_uid, postgres.pw_gid)
    cluster = Cluster(folder, port)
    try:
        cluster.init()
        cluster.start()
        engine = create_engine(cluster.url("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
        engine.dispose()
        yield cluster
    finally:
        if cluster.data.is_dir() and cluster.is_running():
            cluster.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


def image_command() -> list[str]:
    """The container image's CMD (the Dockerfile's last one), its program taken from this virtualenv."""
    found = re.findall(r"^CMD (\[.+\])$", (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8"), re.MULTILINE)
    if not found:
        raise RuntimeError("the Dockerfile has no exec-form CMD")
    program, *args = json.loads(found[-1])
    return [str(BIN / program), *args]


@dataclass(frozen=True)
class Portal:
    """gunicorn serving the portal: its master process, URL and log."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def worker_pids(self) -> set[int]:
        """The master's children: its workers."""
        return children_of(self.process.pid)


def children_of(pid: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # a process that ended meanwhile
            continue
        if int(fields[1]) == pid:
            children.add(int(stat.parent.name))
    return children


@contextmanager
def running_portal(port: int, env: dict[str, str], folder: Path) -> Iterator[Portal]:
    """gunicorn started with the image's command and configuration file (`portal/gunicorn_config.py`: 2 workers,
    the image's timeouts), on 127.0.0.1:`port`, counting its metrics across workers as in the image; yields once
    /readyz answers 200, stops it on exit. Its output goes to `folder`/gunicorn.log."""
    log_path = folder / "gunicorn.log"
    metrics = folder / "prometheus"
    metrics.mkdir()
    env = {**env, "PORTAL_BIND": f"127.0.0.1:{port}", "PORTAL_WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            image_command(), cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_until_answering(process, f"{url}/readyz", READY_TIMEOUT_S, "gunicorn", lambda: log_tail(log_path))
        portal = Portal(url, process, log_path)
        wait_for(lambda: len(portal.worker_pids()) == 2, READY_TIMEOUT_S, "gunicorn's 2 workers")
        yield portal
    finally:
        stop_process(process)


def _tcp_sockets() -> list[tuple[int, int, str]]:
    """Every TCP socket of the machine: (local port, remote port, its `socket:[inode]` as a descriptor links to it)."""
    sockets = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
            sockets.append((local, remote, f"socket:[{fields[9]}]"))
    return sockets


def _descriptors(pid: int) -> set[str]:
    links = set()
    try:
        for descriptor in Path(f"/proc/{pid}/fd").iterdir():
            try:
                links.add(os.readlink(descriptor))
            except OSError:  # closed meanwhile
                continue
    except OSError:  # the process ended
        pass
    return links


def process_using_port(pids: set[int], port: int) -> int | None:
    """Which of `pids` holds the TCP socket whose local end is `port` (a client's end of a connection)."""
    inodes = {inode for local, _, inode in _tcp_sockets() if local == port}
    return next((pid for pid in pids if _descriptors(pid) & inodes), None)


def connected_to(pid: int, port: int) -> bool:
    """Whether process `pid` holds a TCP connection to `port` (a server's)."""
    inodes = {inode for _, remote, inode in _tcp_sockets() if remote == port}
    return bool(_descriptors(pid) & inodes)
