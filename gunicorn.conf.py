"""gunicorn settings for the portal in production: `gunicorn -c gunicorn.conf.py portal.wsgi:app`.

Server settings come from the environment (the portal's own settings are PORTAL_* variables, read by
portal/config.py):

    GUNICORN_BIND            where to listen                     default 127.0.0.1:8000 (0.0.0.0:$PORT if PORT is set)
    WEB_CONCURRENCY          worker processes                    default 2 × cores + 1
    GUNICORN_THREADS         threads per worker (gthread)        default 4
    GUNICORN_TIMEOUT         seconds before a silent worker is restarted           default 60
    GUNICORN_GRACEFUL_TIMEOUT  seconds a stopping worker gets to finish requests   default 30
    GUNICORN_KEEPALIVE       seconds an idle connection from the proxy stays open  default 75
    FORWARDED_ALLOW_IPS      proxies whose X-Forwarded-* headers gunicorn trusts   default 127.0.0.1,::1
    PROMETHEUS_MULTIPROC_DIR where the workers' metrics meet     default a fresh folder in /dev/shm (the folders
                             of masters that died without cleaning up are removed at start)

In production (an https PORTAL_BASE_URL) the server does not start while `okienko config check` finds an
error (on_starting, below). docs/operations.md explains the choices.
"""

import os
import shutil
import tempfile
import time
from pathlib import Path

_METRICS_PREFIX = "okienko-metrics-"
_MASTER_FILE = "master.pid"  # in each folder of ours: the master that owns it ("pid start-time")


def _process_start(pid: int) -> str | None:
    """When the process started (clock ticks since boot, /proc/PID/stat field 22), so that a pid the system has
    given to another process since is not taken for the master; None where there is no /proc, or no process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]  # a zombie is dead, only not yet reaped


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive, and not ours to judge
    if not os.path.isdir("/proc"):
        return True
    now = _process_start(pid)
    return now is not None and (started is None or now == started)


def _claim_metrics_folder(folder: str) -> None:
    pid = os.getpid()
    Path(folder, _MASTER_FILE).write_text(f"{pid} {_process_start(pid) or ''}".strip())


def _remove_stale_metrics_folders(parent: str | None) -> None:
    """A master killed outright (SIGKILL, the OOM killer, a power cut of the container) never runs on_exit, and its
    folder would stay in memory for good, one more after every such crash: the folders whose master is gone are
    removed when the next one starts. A folder without a master file is left alone unless it is an hour old
    (one being made at this moment by a master starting beside us has none yet)."""
    for folder in Path(parent or tempfile.gettempdir()).glob(_METRICS_PREFIX + "*"):
        try:
            pid_text, _, started = (folder / _MASTER_FILE).read_text().strip().partition(" ")
            stale = not _alive(int(pid_text), started or None)
        except FileNotFoundError:
            try:
                stale = time.time() - folder.stat().st_mtime > 3600
            except OSError:
                continue
        except (OSError, ValueError):
            continue
        if stale:
            shutil.rmtree(folder, ignore_errors=True)


# Before anything imports prometheus_client (the workers import the portal after this file ran): with the
# variable set, every worker writes its counters to files in one folder and any worker's /metrics adds them up.
# A folder of our own, emptied at start, so that counters from an earlier run are never added in.
# A memory file system: mkdtemp makes a private folder there, gunicorn its unlinked heartbeat files.
_SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _remove_stale_metrics_folders(_SHM)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["OKIENKO_OWN_METRICS_DIR"] = tempfile.mkdtemp(
        prefix=_METRICS_PREFIX, dir=_SHM)
    _claim_metrics_folder(os.environ["OKIENKO_OWN_METRICS_DIR"])

# Imported here, once the folder is set, not in child_exit: gunicorn runs that hook from its SIGCHLD handler,
# and a second worker exiting during the first import found the module half-initialised (ImportError).
from prometheus_client import multiprocess  # noqa: E402


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (containers, taskset)
    except AttributeError:
        return os.cpu_count() or 1


_port = os.environ.get("PORT")
bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{_port}" if _port else "127.0.0.1:8000").split(",")
# Requests mostly wait: on PostgreSQL, on the TSA, on revocation checks. Threads overlap the waiting,
# processes use the cores (XML signature checks hold the GIL).
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * _cores() + 1))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# The slowest honest request is a qualified signature checked online (CRL/OCSP, up to 20 s) followed by
# a time-stamp (10 s); a worker silent for longer than this is stuck and is replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 30))
# Longer than the load balancer's idle timeout (60 s on most), so the proxy, not gunicorn, closes idle
# connections and never sends a request down one gunicorn has just closed.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 75))
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Heartbeat files on a memory file system: a slow disk (or a container's overlay) must not make
# healthy workers look dead.
worker_tmp_dir = _SHM
# The portal writes one access-log line per request itself (with the request id, the Flask endpoint and
# the actor's kind); gunicorn's own would be a second, poorer copy.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# gunicorn's own messages (workers starting, timing out) go through the portal's handler too, so that
# with PORTAL_LOG_FORMAT=json every line on standard error is JSON.
logconfig_dict = {
    "root": {"level": "INFO", "handlers": ["portal"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
    },
    "handlers": {"portal": {"()": "portal.ops.logs.handler_from_environment"}},
    "formatters": {},
}
proc_name = "okienko-portal"


def on_starting(server):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    """In production the configuration must pass `okienko config check` before any worker starts; and metrics
    from an earlier run of this master must not be added to this one's."""
    _refuse_an_unsafe_configuration(server)
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    if str(folder) == os.environ.get("OKIENKO_OWN_METRICS_DIR"):
        _claim_metrics_folder(str(folder))  # this is the master now (after --daemon's fork, or a re-exec)


def _refuse_an_unsafe_configuration(server):  # noqa: ANN001, ANN202
    """With an https PORTAL_BASE_URL (production), each problem portal/ops/config_check.py finds is logged on a line
    of its own, through the portal's log handler (JSON too); on any error the master stops, exit status 1, before
    it listens or forks. portal/wsgi.py refuses as well, for servers started without this file."""
    from portal import config
    from portal.ops import config_check

    try:
        settings = config.from_environment()
    except ValueError as exc:  # a number that is not one: from_environment names no setting, the value will do
        server.halt(reason=f"the PORTAL_* settings cannot be read: {exc}", exit_status=1)
        return  # halt() does not return
    if not config_check.is_production(settings):
        return
    report = config_check.check(settings, os.environ)
    for problem in report.warnings:
        server.log.warning("configuration warning: %s", problem.line())
    for problem in report.errors:
        server.log.error("configuration error: %s", problem.line())
    if report.errors:
        server.halt(reason=f"the production configuration check found {len(report.errors)} error(s), listed above "
                    "(`okienko config check` shows them with the warnings)", exit_status=1)


def child_exit(server, worker):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    """A worker that exits (restarted, timed out) leaves its counters, which stay counted, but not its live gauges."""
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    """The folder we made for this run goes with it (one the operator chose is left, emptied at the next start)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder and folder == os.environ.get("OKIENKO_OWN_METRICS_DIR"):
        shutil.rmtree(folder, ignore_errors=True)


def post_worker_init(worker):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    """The worker has loaded the portal: what exists now (modules, the catalog, the app) lives as long as the
    worker. Frozen, the garbage collector stops scanning it on every full collection — which over the
    ~250 000 objects of a loaded portal took 100–150 ms, a stall every request in that worker waited out."""
    import gc

    gc.collect()
    gc.freeze()
