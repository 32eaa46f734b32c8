"""The pre-imported worker ("zygote") and the per-run supervisor, both outside the judge process.

Process tree of one worker::

    judge process (trusted; holds expected outputs)
      `- zygote  Z: fresh interpreter, harness imported, isolated once (net/ipc/uts/mount namespaces,
         |          pivoted into a read-only minimal root); never sees any submission
         `- run supervisor R (forked per submission; also the trusted check runner, own uid)
              `- U (forked by R into a fresh PID namespace as its PID 1, its init; own uid)
                   `- test runner L (own uid, rlimits; loads a call-based program, serves checks)
                        `- one process C per stdin/functional test (the program runs here)
                             `- whatever the program starts (dies with U: the kernel empties the namespace)

Z forks R on request and hands it the run's pipe ends (received from the judge with SCM_RIGHTS), so
the judge talks to R and U directly and Z never touches a submission or a test. Z kills and reaps
runs on request and when the judge goes away (EOF on its control socket).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import signal
import socket
import sys
import time
from typing import Any

from . import checker, harness, harness_proc, prelude, sandbox, wire

_CTL_BUF = 65536


class Layers:
    """Which isolation layers are active in this worker (reported to the judge)."""

    def __init__(self) -> None:
        self.active: dict[str, bool] = {k: False for k in ("net", "ipc", "fs", "uid", "pid")}
        self.notes: list[str] = []

    def attempt(self, name: str, fn: Any) -> None:
        try:
            fn()
            self.active[name] = True
        except OSError as err:
            self.notes.append(f"{name}: {err}")


def _probe_pid_namespace() -> None:
    pid = os.fork()
    if pid == 0:
        try:
            sandbox.unshare(sandbox.CLONE_NEWPID)
            inner = os.fork()
            if inner == 0:
                os._exit(0)
            os.waitpid(inner, 0)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise OSError(1, "cannot create a PID namespace")


def _require_root() -> None:
    if os.geteuid() != 0:
        raise OSError(1, "not root: the program keeps the judge's uid (rlimits still bind)")


def isolate_worker(config: dict) -> Layers:
    """Enter the worker-wide namespaces and the minimal root, keeping going layer by layer."""
    layers = Layers()
    layers.attempt("uid", _require_root)
    if config.get("isolate", True):
        layers.attempt("net", lambda: sandbox.unshare(sandbox.CLONE_NEWNET))
        layers.attempt("ipc", lambda: sandbox.unshare(sandbox.CLONE_NEWIPC | sandbox.CLONE_NEWUTS))

        def fs() -> None:
            sandbox.unshare(sandbox.CLONE_NEWNS)
            sandbox.build_root(config["ro_paths"], int(config.get("runs_size_mb", 512)))

        layers.attempt("fs", fs)
        layers.attempt("pid", _probe_pid_namespace)
        if layers.active["fs"] and layers.active["pid"]:
            # The worker's own view of processes (to find orphans at shutdown); every program mounts
            # its PID namespace's /proc over it.
            with contextlib.suppress(OSError):
                sandbox.mount_proc()
    else:
        layers.notes.append("namespaces disabled by isolate=False")
    if not layers.active["fs"]:
        runs = config.get("fallback_runs_dir") or "/tmp"
        sandbox.RUNS_DIR = runs
    return layers


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _children(ppid: str) -> list[int]:
    """Pids whose parent is ``ppid`` (from /proc of the worker's own PID namespace)."""
    out = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc/self") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if fields[1].decode() == ppid:
                out.append(int(entry))
    return out


def _kill_uid(uid: int) -> None:
    """Fallback without PID namespaces: SIGKILL every process of ``uid`` (as that uid)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setresuid(uid, uid, uid)
            for _ in range(3):
                with contextlib.suppress(OSError):
                    os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


class Zygote:
    """Z's state: the control socket, the prelude and the live runs."""

    def __init__(self, ctl: socket.socket, config: dict) -> None:
        self.ctl = ctl
        self.config = config
        self.prelude = prelude.build_prelude()
        self.layers = isolate_worker(config)
        self.runs: dict[int, dict] = {}
        self.leftover_dirs: list[str] = []
        with contextlib.suppress(OSError):
            sandbox.prctl(sandbox.PR_SET_CHILD_SUBREAPER, 1)
        gc.collect()
        gc.freeze()  # every run is forked from here: their collectors then never touch (copy) this heap

    def serve(self) -> None:
        """Answer spawn/end requests until the judge closes the control socket, then kill everything."""
        # Killed programs are re-parented here (subreaper): reap them the moment they exit.
        signal.signal(signal.SIGCHLD, lambda signum, frame: _reap())
        self.reply({"k": "hello", "layers": self.layers.active, "notes": self.layers.notes})
        try:
            while True:
                try:
                    msg, fds, _, _ = socket.recv_fds(self.ctl, _CTL_BUF, 8)
                except OSError as err:
                    print(f"zygote: control socket: {err}", file=sys.stderr)
                    break
                if not msg:
                    break
                req = json.loads(msg)
                if req["op"] == "spawn":
                    self.spawn(req, fds)
                elif req["op"] == "end":
                    self.end(req)
                self.reap()
        finally:
            for run in list(self.runs.values()):
                self.end({"pid": run["pid"]}, answer=False)
            self.drain()

    def reply(self, obj: dict) -> None:
        with contextlib.suppress(OSError):  # the judge went away: serve() notices on its next read
            self.ctl.sendall(json.dumps(obj).encode())

    def spawn(self, req: dict, fds: list[int]) -> None:
        run_dir = os.path.join(sandbox.RUNS_DIR, f"run-{os.getpid()}-{req['run']}")
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                self.ctl.close()
                supervise(req, fds, run_dir, self.prelude, self.layers.active)
                code = 0
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
        self.runs[pid] = {"pid": pid, "dir": run_dir, "uid": req["uid"], "tuid": req["tuid"]}
        self.reply({"k": "spawned", "pid": pid})

    def end(self, req: dict, answer: bool = True) -> None:
        """Kill a run's whole tree and reap it: when this answers, none of the run's processes exists.

        Reaping U here, not in the SIGCHLD handler, is what makes "ended" mean "gone". U is killed
        together with R, but it dies on its own schedule (it must be scheduled, and as PID 1 of its
        namespace it first waits for every process in it to be released), often after R has been
        reaped; it is then a child of this subreaper, and leaving it to the handler lost it now and
        then: CPython runs a Python signal handler only at a bytecode boundary or on EINTR, so a
        SIGCHLD that lands between the last check and the blocking ``recvmsg`` of :meth:`serve` is
        not handled until the next control message. U then stayed a zombie of the program's uid (it
        still counts against that uid's RLIMIT_NPROC) until the next run - seen as "processes of the
        program's uid still running" by the adversarial tests (3 in 3000 runs of a forking program).
        """
        run = self.runs.pop(req["pid"], None)
        if run is not None:
            upid = req.get("upid")
            if upid in self.runs:  # never a live run's supervisor (a pid re-used after R reaped U)
                upid = None
            for pid in (upid, run["pid"]):
                if pid:  # U is PID 1 of its namespace: killing it empties the namespace
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(run["pid"], 0)
            if upid and self.layers.active["pid"]:
                # R is reaped, so U (alive or a zombie) is re-parented here, unless R already reaped
                # it. Once U is reaped its PID namespace is empty: the kernel releases every other
                # process in it before the namespace's init becomes a zombie.
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(upid, 0)
            else:
                # U's pid unknown (it dies of its parent-death signal) or no PID namespace (killed
                # by the uid sweep below): wait for whatever was re-parented here.
                if not self.layers.active["pid"] and self.layers.active["uid"]:
                    _kill_uid(run["uid"])  # no PID namespace: sweep every process of the run's uid
                self.reap_orphans()
            shutil.rmtree(run["dir"], ignore_errors=True)
            if os.path.exists(run["dir"]):
                self.leftover_dirs.append(run["dir"])
        if answer:
            self.reply({"k": "ended"})

    def reap_orphans(self, within_s: float = 5.0) -> None:
        """Wait (bounded) until no child is left here except the supervisors of live runs."""
        me, live = str(os.getpid()), {run["pid"] for run in self.runs.values()}
        deadline = time.monotonic() + within_s
        while True:
            left = [pid for pid in _children(me) if pid not in live]
            if not left or time.monotonic() > deadline:
                return
            for pid in left:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
            time.sleep(0.002)

    def reap(self) -> None:
        """Reap exited processes (runs' programs are re-parented here) and retry stale run dirs."""
        _reap()
        for d in list(self.leftover_dirs):
            shutil.rmtree(d, ignore_errors=True)
            if not os.path.exists(d):
                self.leftover_dirs.remove(d)

    def drain(self) -> None:
        """At shutdown: SIGKILL every remaining child (re-parented programs included) and reap them."""
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        me = str(os.getpid())
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            for pid in _children(me):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                time.sleep(0.005)


def supervise(req: dict, fds: list[int], run_dir: str, prelude_ns: dict, layers: dict[str, bool]) -> None:
    """R: make the run directory, fork the program into its sandbox, then run the check tests.

    R and the program start before any submission exists (a warm spare); they block on their job
    pipes until the judge writes the job, so forking and namespace set-up are off the critical path.
    """
    job_r, res_w, tjob_r, tres_w = fds
    sandbox.set_name("judge-R")
    sandbox.die_with_parent()
    uid, tuid = int(req["uid"]), int(req["tuid"])
    os.mkdir(run_dir, 0o700)
    if layers["uid"]:
        os.chown(run_dir, uid, uid)
    rpc_t, rpc_u = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    if layers["pid"]:
        sandbox.unshare(sandbox.CLONE_NEWPID)
    upid = os.fork()
    if upid == 0:
        code = 1
        try:
            sandbox.set_name("judge-U")
            os.close(tjob_r)
            os.close(tres_w)
            rpc_t.close()
            prepare_program_sandbox(run_dir, layers, keep=(job_r, res_w, rpc_u.fileno()))
            # U is PID 1 of the namespace, and the kernel drops default-action signals sent to a
            # namespace's init - the CPU-limit signals included - so the program never runs here: U
            # forks the test runner L (which forks one process per test) and only reaps until L ends.
            started_r, started_w = os.pipe()
            lpid = os.fork()
            if lpid == 0:
                os.close(started_r)
                run_program(job_r, res_w, rpc_u.fileno(), run_dir, uid, prelude_ns, layers, started_w)
            os.close(started_w)
            os.close(job_r)
            rpc_u.close()
            # Like L, U waits as root for the job (a warm spare has no uid's process but its R), then drops.
            with contextlib.suppress(OSError):
                os.read(started_r, 1)
            os.close(started_r)
            if layers["uid"]:
                sandbox.drop_privileges(uid, uid)
            with contextlib.suppress(OSError):
                sandbox.prctl(sandbox.PR_SET_NO_NEW_PRIVS, 1)
            sandbox.die_with_parent()
            harness_proc.init_loop(lpid, res_w)
            code = 0
        finally:
            os._exit(code)
    os.close(job_r)
    os.close(res_w)
    rpc_u.close()
    wire.write_msg(tres_w, {"k": "pid", "pid": upid})
    sandbox.close_fds_except((tjob_r, tres_w, rpc_t.fileno()))
    if layers["uid"]:
        # The same uid as the program: the kernel delivers the program's parent-death SIGKILL only
        # from a process allowed to signal it. The program cannot name this process (it lives outside
        # the program's PID namespace) and cannot ptrace or read it (non-dumpable).
        sandbox.drop_privileges(tuid, tuid)
    with contextlib.suppress(OSError):
        sandbox.prctl(sandbox.PR_SET_DUMPABLE, 0)
    sandbox.die_with_parent()
    os.chdir("/")
    tjob = wire.read_msg(tjob_r)
    if tjob is None:
        return
    sandbox.set_limits(int(tjob["memory_mb"]) * 2 + 256, None, 8, 16, 256)
    remote = checker.Remote(rpc_t.fileno())
    for test in tjob.get("checks", []):
        status, detail = checker.run_check(remote, prelude_ns, test["src"], tjob.get("fn_name"))
        wire.write_msg(tres_w, {"k": "r", "i": test["i"], "status": status, "detail": detail})
        if status == "died":
            break
        with contextlib.suppress(OSError):
            wire.write_msg(rpc_t.fileno(), {"op": "end"})
        if status != "ok" and not tjob.get("all_tests"):
            break
    rpc_t.close()
    _, status = os.waitpid(upid, 0)
    wire.write_msg(tres_w, {"k": "exit", "status": status})


def run_program(job_r: int, res_w: int, rpc_fd: int, run_dir: str, uid: int, prelude_ns: dict,
                layers: dict[str, bool], started_w: int) -> None:
    """L: wait for the job, enter the program's sandbox and run its tests; never returns."""
    code = 1
    try:
        sandbox.set_name("judge-L")
        sandbox.die_with_parent()
        job = wire.read_msg(job_r)
        os.close(job_r)
        os.close(started_w)  # U's cue that the spare is in use
        if job is not None:
            enter_program_sandbox(job, uid, layers)
            harness.Runner(job, res_w, rpc_fd, prelude_ns, run_dir, sweep=layers["pid"]).run()
        code = 0
    finally:
        with contextlib.suppress(BaseException):
            harness_proc._flush()
        os._exit(code)


def prepare_program_sandbox(run_dir: str, layers: dict[str, bool], keep: tuple[int, ...]) -> None:
    """U, while waiting for its job (as root): own /proc, new session, run dir, clean env and fds."""
    if layers["pid"] and layers["fs"]:
        with contextlib.suppress(OSError):
            sandbox.unshare(sandbox.CLONE_NEWNS)
            sandbox.mount_proc()
    with contextlib.suppress(OSError):
        os.setsid()
    sandbox.die_with_parent()
    sandbox.close_fds_except(keep)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    os.chdir(run_dir)
    os.environ.clear()
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": run_dir, "TMPDIR": run_dir,
                       "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8",
                       "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over-long output -> OSError(EFBIG), not a silent kill
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.umask(0o077)


def enter_program_sandbox(job: dict, uid: int, layers: dict[str, bool]) -> None:
    """U, once the job is known and before any of its code runs: drop to ``uid``, apply the rlimits."""
    if layers["uid"]:
        sandbox.drop_privileges(uid, uid)
    with contextlib.suppress(OSError):
        sandbox.prctl(sandbox.PR_SET_NO_NEW_PRIVS, 1)
    sandbox.die_with_parent()  # cleared by the uid change
    lim = job["limits"]
    ntests = max(1, len(job["tests"]))
    cpu_total = int(float(lim["time_limit_s"]) * ntests + 2 * ntests + 2)
    sandbox.set_limits(int(lim["memory_mb"]), cpu_total, int(lim["nproc"]), int(lim["output_mb"]), 128)


def main() -> None:
    """Entry point of the worker interpreter: ``argv[1]`` = control fd, ``argv[2]`` = JSON config."""
    ctl = socket.socket(fileno=int(sys.argv[1]))
    config = json.loads(sys.argv[2])
    sys.set_int_max_str_digits(0)
    sandbox.set_name("judge-zygote")
    sandbox.set_default_thread_stack(8)
    Zygote(ctl, config).serve()
    os._exit(0)
