"""The sandbox worker: runs inside the jail, imports the package once, forks one child per run.

Loaded by path (``python -I worker.py``) inside bubblewrap, so it imports only the standard library and
its sibling ``protocol.py``. Messages on stdin/stdout are 4-byte big-endian lengths + UTF-8 JSON.

Per run, the child:
  * becomes PID 1 of a fresh PID namespace when the worker can create one (``unshare(CLONE_NEWPID)``
    before ``fork``): it cannot see or signal the worker, and when it dies the kernel kills every
    process it started (fork bombs, ``setsid`` escapes). Otherwise it gets its own session and the
    worker, a child subreaper, kills the group and every orphan after the run;
  * drops to uid/gid 65534 (when the worker runs as root) so it holds no capability and RLIMIT_NPROC
    applies, or else drops all capabilities;
  * gets rlimits (CPU, address space, file size, open files, processes, no core dumps), a private
    temporary working directory, stdin from /dev/null, stdout/stderr into size-capped files, and
    every other inherited descriptor closed except the result pipe;
  * exec()s the code under ``__name__ == "solution"``, calls the entry point on each test input, and
    writes the encoded return values to the result pipe.
The worker enforces the wall-clock limit and caps the result size; it never runs untrusted code itself.

The child reports its setup (everything before the untrusted code runs) on a second pipe that it closes
before the code runs: only the worker's side can then say the sandbox failed. What arrives on the result
pipe is the code's to forge, so the trusted side believes only the statuses a run may claim of itself.

A request may name package APIs to *perturb* and a seed (a probe run of the judge's usage rule, see
``judge/usage.py`` and ``perturb.py``): before the code runs, each named function or method of the package
is replaced by one that returns a deliberately different value of the same type and shape, drawn from the
seed, for the whole run. The trusted side compares the answer with the reference's under the same
perturbation; undoing or dodging the perturbation only makes the two disagree.
"""

from __future__ import annotations

import builtins
import ctypes
import gc
import importlib
import json
import os
import platform
import resource
import select
import signal
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guard  # noqa: E402  (sibling modules, loaded by path inside the jail)
import perturb  # noqa: E402
import protocol  # noqa: E402

CLONE_NEWPID, CLONE_NEWIPC = 0x20000000, 0x08000000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38
NOBODY = 65534
SIGCHLD = 17
SYS_CLONE = {"x86_64": 56, "aarch64": 220}.get(platform.machine())
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def fork_in_new_pidns() -> int | None:
    """fork(), but the child is PID 1 of a new PID namespace, in a new IPC namespace (SysV objects and
    POSIX message queues it makes die with it). None if the kernel refuses.

    unshare(CLONE_NEWPID) works once per process, so each run uses a raw clone() instead; the
    PyOS_*Fork hooks do the interpreter bookkeeping os.fork() would (the worker is single-threaded).
    """
    if SYS_CLONE is None:
        return None
    ctypes.pythonapi.PyOS_BeforeFork()
    pid = _libc.syscall(SYS_CLONE, CLONE_NEWPID | CLONE_NEWIPC | SIGCHLD, 0, 0, 0, 0)
    if pid == 0:
        ctypes.pythonapi.PyOS_AfterFork_Child()
        return 0
    ctypes.pythonapi.PyOS_AfterFork_Parent()
    return pid if pid > 0 else None


# ------------------------------------------------------------------ framing

def read_msg(f) -> dict | None:
    head = f.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack(">I", head)
    return json.loads(f.read(n))


def write_msg(f, obj: dict) -> None:
    data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    f.write(struct.pack(">I", len(data)) + data)
    f.flush()


# ------------------------------------------------------------------ child side

def _drop_privileges(drop_uid: bool) -> None:
    if os.getuid() == 0 and drop_uid:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)  # clears every capability
    else:
        _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
        data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable x2: all zero
        _libc.capset(hdr, data)


# Syscalls a run never needs and that outlive it or reach past its namespaces: SysV IPC (a segment can
# outlive the run and hold memory its address-space limit does not count), POSIX message queues and the
# kernel's keyrings (per uid, shared by every run and every judge). They fail with EPERM.
_DENIED_SYSCALLS = {
    "x86_64": (29, 30, 31, 67, 64, 65, 66, 220, 68, 69, 70, 71, 240, 241, 242, 243, 244, 245, 248, 249, 250),
    "aarch64": tuple(range(180, 198)) + (217, 218, 219),
}
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}


def _seccomp_filter():
    """The seccomp program refusing `_DENIED_SYSCALLS` (and the x32 ABI), built once per worker (building it
    in each run cost 0.7 ms). None where the architecture is not known."""
    arch = platform.machine()
    nrs = _DENIED_SYSCALLS.get(arch)
    if nrs is None:
        return None

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    LD, JEQ, JGE, RET = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JGE|K, BPF_RET|K
    ALLOW, EPERM = 0x7FFF0000, 0x00050000 | 1
    n = len(nrs)
    insns = [(LD, 0, 0, 4), (JEQ, 1, 0, _AUDIT_ARCH[arch]), (RET, 0, 0, EPERM), (LD, 0, 0, 0)]
    if arch == "x86_64":
        insns.append((JGE, n + 1, 0, 0x40000000))  # the x32 ABI's numbers: refused
    insns += [(JEQ, n - i, 0, nr) for i, nr in enumerate(nrs)]
    insns += [(RET, 0, 0, ALLOW), (RET, 0, 0, EPERM)]
    arr = (Filter * len(insns))(*[Filter(*i) for i in insns])
    prog = Prog(len(insns), arr)
    prog._keep = arr
    return ctypes.byref(prog), prog


_SECCOMP = _seccomp_filter()
_prctl = _libc.prctl


def _seccomp() -> bool:
    """Install `_SECCOMP` in this process (a run's child). False where unsupported."""
    if _SECCOMP is None:
        return False
    _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    return _prctl(22, 2, _SECCOMP[0], 0, 0) == 0  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER


def _set_limits(lim: dict) -> None:
    cpu = max(1, int(lim["cpu_s"] + 0.999))
    mb = 1 << 20
    for res, value in (
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (lim["memory_mb"] * mb,) * 2),
        (resource.RLIMIT_FSIZE, (lim["fsize_mb"] * mb,) * 2),
        (resource.RLIMIT_NOFILE, (lim["nofile"],) * 2),
        (resource.RLIMIT_NPROC, (lim["nproc"],) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
    ):
        try:
            resource.setrlimit(res, value)
        except (ValueError, OSError):
            pass


_FUNC_CODE = type(_set_limits).__code__  # the descriptor, so a planted __setattr__ is never called


def _guard(mods) -> tuple[list, list]:
    """What a run's restore() puts back: the modules' namespaces, and the code of their functions and of
    their classes' methods. Untrusted code may monkeypatch the modules that the harness code after it reads
    (the encoder and json.dumps read their own module's globals and builtins, the package's unwrap hook
    its module's). What the harness needs from os and sys is bound before the untrusted code runs."""
    mods = [m for m in mods if m is not None]
    return [(m.__dict__, dict(m.__dict__)) for m in mods], _functions_of(mods)


def _functions_of(mods) -> list:
    """(function, its code) for the Python functions of these modules and of their classes."""
    out, seen = [], set()
    func_t = type(_set_limits)
    for m in mods:
        for v in list(m.__dict__.values()):
            items = list(v.__dict__.values()) if isinstance(v, type) and v.__module__ == m.__name__ else [v]
            for f in items:
                f = getattr(f, "__func__", f)  # classmethod / staticmethod
                if type(f) is func_t and id(f) not in seen:
                    seen.add(id(f))
                    out.append((f, f.__code__))
    return out


def _fmt_exc(e: BaseException) -> str:
    try:
        msg = str(e)
    except BaseException:  # a hostile __str__
        msg = "<unprintable>"
    return f"{type(e).__name__}: {msg}"[:500]


def _child(req: dict, w: int, setup_w: int, out_fd: int, err_fd: int, workdir: str, encoder, pidns: bool,
           drop_uid: bool = True, guard: tuple = ((), ()), perturber=None, closed_book=None) -> None:
    write = os.write
    exit_ = os._exit
    getpid = os.getpid
    close = os.close
    me = getpid()

    def setup_failed(why: str) -> None:
        try:
            write(4, ("E" + why).encode("utf-8", "replace")[:4000])
        except OSError:
            pass
        exit_(70)

    try:
        if not pidns:
            os.setsid()
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL if sig != signal.SIGXFSZ else signal.SIG_IGN)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        os.dup2(w, 3)
        os.dup2(setup_w, 4)
        os.closerange(5, 65536)
        sys.stdout = sys.__stdout__  # the worker points it at stderr to keep its message channel clean
        os.chdir(workdir)
        # The worker's environment is already minimal (the jail clears it); only point the run at its dir.
        os.environ["HOME"] = os.environ["TMPDIR"] = workdir
        tempfile.tempdir = workdir
        _drop_privileges(drop_uid)
        _set_limits(req["limits"])
        _seccomp()
    except BaseException as e:
        setup_failed("child setup failed: " + _fmt_exc(e))
    try:
        if req.get("perturb") and perturber is not None:
            perturber.install(req["perturb"], int(req["seed"]))  # before the code: every reference is to these
    except BaseException as e:
        setup_failed("perturbing the package failed: " + _fmt_exc(e))
    snapshot, funcs = guard  # see Worker.__init__
    setcode = _FUNC_CODE.__set__

    def restore() -> None:
        for live, saved in snapshot:  # unconditional: comparing could call a planted __eq__
            live.clear()
            live.update(saved)
        for fn, code in funcs:
            setcode(fn, code)

    def finish(obj: dict) -> None:
        if getpid() != me:  # a process the code forked: only the run's own process reports
            exit_(0)
        restore()
        data = json.dumps(obj, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()
        view = memoryview(data)
        while view:
            n = write(3, view)
            view = view[n:]
        exit_(0)

    flushes = (sys.stdout.flush, sys.stderr.flush)

    # Decoded before any untrusted code runs, so decoding needs no restore.
    calls = []
    for kwargs in req["inputs"]:
        try:
            calls.append(({k: protocol.from_tagged(v) for k, v in kwargs.items()}, None))
        except BaseException as e:
            calls.append((None, "bad test input: " + _fmt_exc(e)))
    ns = closed_book.namespace() if closed_book is not None else {"__name__": "solution", "__builtins__": builtins}
    try:
        write(4, b"R")  # setup is over; from here on the process is the code's
        close(4)
    except OSError:
        exit_(70)
    try:
        if closed_book is not None:  # the code is parsed and rewritten here, in the jail, never outside
            code = closed_book.compile(req["code"], rewritten=bool(req.get("rewritten")))
            closed_book.install(workdir)
        else:
            code = compile(req["code"], "solution.py", "exec", dont_inherit=True)
        exec(code, ns)
        fn = ns.get(req["entry_point"])
        if not callable(fn):
            finish({"status": "runtime_error", "outcomes": [],
                    "detail": f"entry point {req['entry_point']!r} is not defined"})
    except MemoryError:
        finish({"status": "memory", "outcomes": [], "detail": "MemoryError while loading the code"})
    except BaseException as e:
        finish({"status": "runtime_error", "outcomes": [], "detail": "while loading the code: " + _fmt_exc(e)})

    def call(args: dict) -> dict:
        try:
            value = fn(**args)
            restore()
            return {"ok": True, "value": encoder.encode(value)}
        except MemoryError:
            restore()
            return {"ok": False, "value": None, "error": "MemoryError"}
        except BaseException as e:  # SystemExit included: the entry point may not end the run
            restore()
            return {"ok": False, "value": None, "error": _fmt_exc(e)}

    outcomes = []
    status, detail = "ok", ""
    for args, bad in calls:
        out = {"ok": False, "value": None, "error": bad} if bad is not None else call(args)
        outcomes.append(out)
        if out.get("error") == "MemoryError":
            status, detail = "memory", "MemoryError"
            break
    report = {"status": status, "outcomes": outcomes, "detail": detail}
    for flush in flushes:
        try:
            flush()
        except BaseException:
            pass
    try:
        finish(report)
    except BaseException as e:
        finish({"status": "runtime_error", "outcomes": [], "detail": "result not serializable: " + _fmt_exc(e)})


# ------------------------------------------------------------------ worker side

class Worker:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        for p in reversed(cfg.get("sys_path", [])):
            sys.path.insert(0, p)
        for mod in cfg.get("preload", []):
            try:
                importlib.import_module(mod)
            except ImportError:
                pass
        core = None
        pkg = cfg.get("package")
        if pkg:
            try:
                core = importlib.import_module(pkg + "._core")
            except ImportError:
                core = None
        unwrap = _unwrap_hook(core)
        wrap = getattr(core, "_w", None) or getattr(core, "wrap", None)
        array_type = _resolve(cfg.get("array_type"))
        scalar_type = _resolve(cfg.get("scalar_type"))
        self.encoder = protocol.Encoder(unwrap, array_type, scalar_type)
        self.perturber = perturb.Perturber(unwrap, wrap)
        lib = next((m for m in cfg.get("preload", []) if m != pkg), None)
        self.closed_book = guard.Guard(pkg, deny_dirs=list(cfg.get("sys_path", [])) + [os.path.dirname(
            os.path.abspath(__file__))], library=lib)
        self.closed_book.preload()
        self.closed_book.shield_stdlib()
        self.closed_book.warm()
        _strip_docs(self.closed_book.modules - guard.STDLIB)
        _forget_tables(core, pkg)
        self.guard = _guard((builtins, json, json.encoder, json.decoder, protocol, core))
        self.drop_uid = cfg.get("drop_uid", True)
        self.pidns = bool(cfg.get("pidns")) and _probe_pidns()
        gc.collect()
        gc.freeze()  # children share the warm heap copy-on-write; keep the collector off those pages
        self.huge_pages = _collapse_heap() if cfg.get("huge_pages", True) else 0
        self.runs = 0
        self.capdir = tempfile.mkdtemp(prefix=".cap-")  # root-only: holds the stdout/stderr sinks
        os.chmod(self.capdir, 0o700)
        self.rundirs = tempfile.mkdtemp(prefix=".runs-")  # runs can enter their own dir here, not list or add
        os.chmod(self.rundirs, 0o711)
        self.out_path, self.err_path = os.path.join(self.capdir, "out"), os.path.join(self.capdir, "err")
        _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)

    def run(self, req: dict) -> dict:
        lim = req["limits"]
        t0 = time.monotonic()
        workdir = os.path.join(self.rundirs, str(self.runs))
        os.mkdir(workdir)
        os.chmod(workdir, 0o777)
        out_fd = os.open(self.out_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        err_fd = os.open(self.err_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        r, w = os.pipe()
        sr, sw = os.pipe()
        if self.pidns:
            pid = fork_in_new_pidns()
            if pid is None:  # never a silent downgrade: the pool retries the run on a fresh worker
                err = ctypes.get_errno()
                raise OSError(err, f"cannot give the run its own PID namespace: {os.strerror(err)}")
        else:
            pid = os.fork()
        if pid == 0:
            os.close(r)
            os.close(sr)
            try:
                _child(req, w, sw, out_fd, err_fd, workdir, self.encoder, self.pidns, self.drop_uid, self.guard,
                       self.perturber, self.closed_book if req.get("closed_book", True) and self.closed_book.package else None)
            finally:
                os._exit(70)
        self.ran = True  # from here a failure is reported with the run (the code may have run), never retried
        os.close(w)
        os.close(sw)
        buf, timed_out, too_big, st, ru = _collect(pid, r, t0 + lim["wall_s"], lim["result_bytes"])
        os.close(r)
        self._reap(pid)
        setup = _read_all(sr, 4096)
        os.close(sr)
        wall = time.monotonic() - t0
        dirty = False
        try:
            os.rmdir(workdir)  # the common case: the run wrote no file
        except OSError:
            try:  # whatever the run did to its directory, its result is still reported; the worker is replaced
                dirty = not _remove_tree(workdir, NOBODY if self.drop_uid and os.getuid() == 0 else None)
            except Exception:  # noqa: BLE001
                dirty = True
        self.runs += 1
        if self.huge_pages and self.runs % 500 == 0:
            _collapse_heap()  # pages this process wrote while a child shared them were split back to 4 KB
        out, err = _tail(out_fd, lim["stdout_bytes"]), _tail(err_fd, lim["stdout_bytes"])
        os.close(out_fd)
        os.close(err_fd)
        return {
            "timed_out": timed_out, "too_big": too_big,
            "exit_code": os.WEXITSTATUS(st) if os.WIFEXITED(st) else None,
            "signal": os.WTERMSIG(st) if os.WIFSIGNALED(st) else None,
            "cpu_s": (ru.ru_utime + ru.ru_stime) if ru else 0.0,
            "result": None if too_big else buf.decode("utf-8", "replace"),
            "setup": setup.decode("utf-8", "replace"),
            "stdout": out, "stderr": err, "wall_s": wall, "pidns": self.pidns, "dirty": dirty,
        }

    def _reap(self, pid: int) -> None:
        """Kill whatever the run left behind. With a PID namespace the kernel already did."""
        if not self.pidns:
            _kill(-pid)
            me = os.getpid()
            for _ in range(50):
                orphans = [p for p in _children_of(me)]
                if not orphans:
                    break
                for p in orphans:
                    _kill(p)
                time.sleep(0.002)
        while True:
            try:
                got, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not got:
                break


MADV_COLLAPSE, HUGE = 25, 2 << 20


def _collapse_heap() -> int:
    """Move the warm heap onto 2 MB pages where the kernel can (Linux 6.1+, whatever the THP setting):
    each run's fork then copies one page-table entry per 2 MB instead of 512, and its exit frees as few
    (``benchmarks/sandbox_throughput.py`` measures the gain). Best effort; returns the 2 MB pages made."""
    try:
        with open("/proc/self/maps") as f:
            maps = f.read().splitlines()
    except OSError:
        return 0
    made = 0
    for line in maps:
        f = line.split()
        if f[1] != "rw-p" or (len(f) > 5 and f[5] != "[heap]"):
            continue  # private writable memory with no file behind it: the heap and the allocator's arenas
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        for chunk in range((lo + HUGE - 1) // HUGE * HUGE, hi // HUGE * HUGE, HUGE):
            made += _libc.madvise(chunk, HUGE, MADV_COLLAPSE) == 0  # fails where nothing is there yet
    return made


def _collect(pid: int, r: int, deadline: float, cap: int):
    """Wait for the child to end and read its result pipe: (bytes, timed_out, too_big, status, rusage).

    Sleeps on a pidfd until the child has exited rather than waking when it writes its result: while the
    child lives it shares this process's memory copy-on-write, and every page this process touched
    meanwhile would be copied. The pipe is read on the way, and on every wake once the child is seen
    blocked on it (a result larger than the pipe)."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # before Linux 5.3: wake on the pipe, poll for the exit
        pidfd = None
    buf, timed_out, too_big, streaming, eof = bytearray(), False, False, False, False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            waits = [pidfd] if pidfd is not None else []
            if (streaming or pidfd is None) and not eof:
                waits.append(r)
            ended = select.select(waits, [], [], min(left, 0.02))[0]
            while not eof and select.select([r], [], [], 0)[0]:
                chunk = os.read(r, 1 << 16)
                eof = not chunk
                buf += chunk
                streaming = True
                if len(buf) > cap:
                    too_big = True
                    break
            if too_big:
                break
            if pidfd is None or pidfd in ended:
                got, st, ru = os.wait4(pid, os.WNOHANG)
                if got:  # exited; a process it left may still hold the pipe, so take only what is there
                    return buf, False, False, st, ru
    finally:
        if pidfd is not None:
            os.close(pidfd)
    _kill(pid)
    _, st, ru = os.wait4(pid, 0)
    return buf, timed_out, too_big, st, ru


def _read_all(fd: int, cap: int) -> bytes:
    os.set_blocking(fd, False)
    data = b""
    try:
        while len(data) < cap:
            chunk = os.read(fd, cap - len(data))
            if not chunk:
                break
            data += chunk
    except OSError:  # nothing (more) written and a process the run left still holds the pipe
        pass
    return data


def _remove_tree(top: str, owner_uid: int | None, deadline_s: float = 5.0) -> bool:
    """Remove what a run left in its directory, whatever its depth, names, links or modes: iterative,
    by relative paths from inside each directory (never a path longer than one name), never following a
    link, making each directory writable first. Linear: each directory is listed once, its subdirectories
    kept on a stack. Stops at ``deadline_s`` (the worker is then replaced, with a fresh /tmp). As root,
    works as the runs' uid (they own all of it). Returns whether ``top`` is gone. Only the run's
    processes could change the tree, and they are dead."""
    try:
        back = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # a run that owns the jail's /tmp (no uid of its own) may have locked the worker out of it
        return False
    euid = os.geteuid()
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    end = time.monotonic() + deadline_s

    def enter(name: str) -> list[str]:
        fd = os.open(name, flags)
        os.fchdir(fd)
        os.close(fd)
        subs = []
        with os.scandir(".") as it:
            for i, e in enumerate(it):
                if not i % 1024 and time.monotonic() >= end:  # one directory may hold millions of files
                    raise TimeoutError
                if e.is_dir(follow_symlinks=False):
                    subs.append(e.name)
                else:
                    try:
                        os.unlink(e.name)
                    except OSError:
                        pass
        return subs

    try:
        if owner_uid is not None:
            os.setresuid(-1, owner_uid, -1)  # only the effective uid: the worker takes root back below
        stack, names = [enter(top)], []  # per level entered: the subdirectories left; the level's name
        while stack and time.monotonic() < end:
            if stack[-1]:
                sub = stack[-1].pop()
                try:
                    os.chmod(sub, 0o700, follow_symlinks=False)  # a run may leave its directories mode 000
                except OSError:
                    pass
                stack.append(enter(sub))
                names.append(sub)
                continue
            stack.pop()
            if names:
                os.chdir("..")
                os.rmdir(names.pop())
    except (OSError, RecursionError, MemoryError):  # TimeoutError is an OSError: the deadline passed
        pass
    finally:
        if owner_uid is not None:
            os.setresuid(-1, euid, -1)
        os.fchdir(back)
        os.close(back)
    try:
        os.rmdir(top)
    except OSError:
        pass
    return not os.path.lexists(top)


def _strip_docs(modules) -> None:
    """Closed book needs no docs: drop the docstrings of the package's modules, functions, classes and
    their members (what a run could read through any path the guard missed, or a library helper)."""
    seen = set()

    def strip(obj) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        try:
            obj.__doc__ = None
        except (AttributeError, TypeError):
            pass

    for name in modules:
        mod = sys.modules.get(name)
        if mod is None:
            continue
        strip(mod)
        for v in list(vars(mod).values()):
            if isinstance(v, type) and v.__module__.split(".")[0] == name.split(".")[0]:
                strip(v)
                for m in list(vars(v).values()):
                    strip(getattr(m, "__func__", m))
            elif callable(v):
                strip(v)


def _forget_tables(core, pkg) -> None:
    """The package's name table built it and is not needed to run it: a run that got past every check
    (a red team forged object references from addresses) read the whole table from ``_core.T``. What the
    wrappers still need stays (the words that rename messages)."""
    table = getattr(core, "T", None)
    if isinstance(table, dict):
        table.pop("modules", None)
    data = sys.modules.get(f"{pkg}._data") if pkg else None
    if data is not None:
        data.BLOB = data.DOCS = ""
    if core is not None and hasattr(core, "_docs"):
        core._docs = {}


def _unwrap_hook(core):
    """The package's proxy -> library object hook, built from what the package defines at import.

    The built runtime keeps the library object in the ``_v`` slot of ``_core._Proxy``: reading it through
    the slot's own descriptor, chosen by the object's real type, leaves nothing a run could patch. Other
    packages' ``unwrap`` is used as is (restore() puts their module and code back before each encoding)."""
    base = getattr(core, "_Proxy", None)
    slot = base.__dict__.get("_v") if isinstance(base, type) else None
    if slot is None or type(slot).__name__ != "member_descriptor":
        return getattr(core, "unwrap", None)
    get, issub, type_ = slot.__get__, issubclass, type

    def unwrap(obj):
        return get(obj) if issub(type_(obj), base) else obj

    return unwrap


def _probe_pidns() -> bool:
    pid = fork_in_new_pidns()
    if pid == 0:
        os._exit(0)
    if pid is None:
        return False
    os.waitpid(pid, 0)
    return True


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _children_of(ppid: int) -> list[int]:
    kids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
                if int(fields[1]) == ppid:
                    kids.append(int(name))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def _tail(fd: int, cap: int) -> str:
    try:
        size = os.fstat(fd).st_size
        if not size:
            return ""
        data = os.pread(fd, cap, max(0, size - cap))
    except OSError:
        return ""
    return (f"[... {size - cap} bytes cut]\n" if size > cap else "") + data.decode("utf-8", "replace")


def _resolve(dotted: str | None):
    if not dotted:
        return None
    mod, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(mod), name)
    except (ImportError, AttributeError):
        return None


def main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # Stray prints by imported modules must not corrupt the message channel.
    sys.stdout = sys.stderr
    cfg = read_msg(stdin)
    if cfg is None:
        return
    worker = Worker(cfg)
    write_msg(stdout, {"ready": True, "pidns": worker.pidns, "uid": os.getuid(), "huge_pages": worker.huge_pages})
    while True:
        req = read_msg(stdin)
        if req is None:
            return
        worker.ran = False  # until run() forks the code's process
        try:
            reply = worker.run(req)
        except BaseException as e:  # the pool reports it as this run's sandbox_error and starts a new worker;
            # it retries the run only if its code never started ("ran" false)
            reply = {"worker_error": _fmt_exc(e), "ran": worker.ran}
        write_msg(stdout, reply)
        if reply.get("dirty") or "worker_error" in reply:
            return  # a run left what could not be removed, or the worker broke: a fresh jail, a fresh /tmp


if __name__ == "__main__":
    main()
