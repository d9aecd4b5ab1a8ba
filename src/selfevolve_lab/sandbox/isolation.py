"""How a worker process is jailed: the command line that starts it, per isolation level.

Levels, strongest first (``auto`` picks the first that works here):
  bwrap    bubblewrap: new PID/net/IPC/UTS namespaces, a read-only view of only the interpreter,
           its site-packages, the bench's package and the worker script; a size-capped private /tmp;
           no /etc, no home, no bench task files. As root the worker keeps CAP_SYS_ADMIN (for a
           PID namespace per run) and CAP_SETUID/SETGID (to drop each run to uid 65534); as a normal
           user it gets the same inside a new user namespace.
  unshare  util-linux unshare: new PID and network namespaces, the host filesystem (read-write where
           the uid can write): weaker, for machines without bubblewrap.
  none     plain processes with rlimits and process-group kills. Loud warning in every report.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

LEVELS = ("bwrap", "unshare", "none")
WORKER_DIR = Path(__file__).resolve().parent
JAIL_RUNTIME = "/opt/selfevolve-sandbox"  # where the worker script appears inside the jail
JAIL_PACKAGE = "/opt/bench-package"  # where the bench's package directory appears inside the jail
WARNING_NONE = (
    "WARNING: sandbox isolation is 'none' (no bubblewrap or namespaces available): model code runs as "
    "plain processes with rlimits only. Install bubblewrap (apt-get install bubblewrap)."
)


def _python_dirs() -> list[str]:
    dirs = {sys.base_prefix, sys.prefix, sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
            sysconfig.get_paths()["platlib"]}
    return sorted(d for d in dirs if d and os.path.isdir(d))


def _minimal_roots(dirs: list[str]) -> list[str]:
    out: list[str] = []
    for d in sorted(dirs):
        if not any(d == o or d.startswith(o.rstrip("/") + "/") for o in out):
            out.append(d)
    return out


def bwrap_command(package_dir: Path | None, tmp_mb: int) -> list[str]:
    root = os.geteuid() == 0
    cmd = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
           "--die-with-parent", "--new-session", "--clearenv"]
    if not root:
        cmd += ["--unshare-user"]
    # The private /tmp first: binds placed later stay visible even when the checkout lives under /tmp.
    cmd += ["--size", str(tmp_mb << 20), "--tmpfs", "/tmp"]
    for top in ("usr", "lib", "lib64", "lib32", "bin", "sbin"):
        p = Path("/") / top
        if p.is_symlink():
            cmd += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            cmd += ["--ro-bind", str(p), str(p)]
    binds = [d for d in _minimal_roots(_python_dirs()) if not d.startswith("/usr/")]
    # bwrap creates missing parent directories mode 0700; runs drop to uid 65534 and must traverse them.
    parents = sorted({str(a) for d in binds for a in Path(d).parents if str(a) != "/"} | {"/opt"})
    for a in parents:
        cmd += ["--perms", "0755", "--dir", a]
    for d in binds:
        cmd += ["--ro-bind", d, d]
    cmd += ["--ro-bind", str(WORKER_DIR), JAIL_RUNTIME]
    if package_dir is not None:
        cmd += ["--ro-bind", str(Path(package_dir).resolve()), JAIL_PACKAGE]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--chdir", "/tmp"]
    cmd += ["--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp", "--setenv", "LANG", "C.UTF-8"]
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        cmd += ["--setenv", var, "1"]
    cmd += ["--cap-add", "CAP_SYS_ADMIN"]
    if root:
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return cmd


def worker_command(level: str, package_dir: Path | None, tmp_mb: int = 256) -> tuple[list[str], str | None]:
    """The argv that starts a worker, and the package directory as the worker will see it."""
    python = sys.executable
    if level == "bwrap":
        cmd = bwrap_command(package_dir, tmp_mb) + [python, "-I", "-B", f"{JAIL_RUNTIME}/worker.py"]
        return cmd, JAIL_PACKAGE if package_dir is not None else None
    script = str(WORKER_DIR / "worker.py")
    pkg = str(Path(package_dir).resolve()) if package_dir is not None else None
    if level == "unshare":
        return ["unshare", "--pid", "--fork", "--net", "--kill-child", python, "-I", "-B", script], pkg
    return [python, "-I", "-B", script], pkg


def worker_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    return env


@functools.cache
def available(level: str) -> bool:
    """Whether ``level`` works on this machine (probed once per process)."""
    if level == "none":
        return True
    exe = "bwrap" if level == "bwrap" else "unshare"
    if shutil.which(exe) is None:
        return False
    cmd, _ = worker_command(level, None)
    probe = cmd[: cmd.index(sys.executable)] + [sys.executable, "-I", "-c", "pass"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=20, env=worker_env()).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def choose(level: str) -> str:
    if level == "auto":
        return next(lv for lv in LEVELS if available(lv))
    if level not in LEVELS:
        raise ValueError(f"unknown isolation level {level!r}; choose auto, {', '.join(LEVELS)}")
    if not available(level):
        raise RuntimeError(f"isolation level {level!r} is not available on this machine")
    return level
