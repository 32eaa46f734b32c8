"""Adversarial programs: each must end non-accepted, within its time bound, leaving nothing running
and the host unchanged. The judge must keep working afterwards.

Each attack is written so that it *would* be accepted if the sandbox let it succeed (it prints or
returns the expected value only when the attack works), so these tests fail on a leaky judge.
"""

from __future__ import annotations

import os
import secrets
import socket
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from acereason.verify.code import JudgePool, judge
from acereason.verify.code.pool import Worker

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pool() -> Iterator[JudgePool]:
    with JudgePool(1) as p:
        assert p.layers()  # start the worker
        yield p


def _need(pool: JudgePool, *layers: str) -> None:
    """Skip (loudly) when this machine cannot provide an isolation layer the attack is stopped by."""
    active = pool.layers()
    missing = [name for name in layers if not active.get(name)]
    if missing:
        pytest.skip(f"isolation layer(s) unavailable here: {', '.join(missing)} (see docs/verify-code.md)")


def _worker(pool: JudgePool) -> Worker:
    (w,) = pool._all
    return w


def _uid_processes(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry))
                        break
        except OSError:
            continue
    return pids


def _assert_nothing_left(pool: JudgePool) -> None:
    """Call right after ``judge`` returned: no process of the run's uid may exist at that moment (not
    even a zombie) - except the next run's supervisor R, which the zygote forks as a warm spare right
    after the kill and which runs under the same uid (the spare's program is still root, waiting for
    its job). The snapshot is taken first; the spare's pid comes with the zygote's later "spawned"."""
    w = _worker(pool)
    at_return = _uid_processes(w.uid)
    w.sync()
    left = [p for p in at_return if p != w.spare_pid]
    assert not left, f"processes of the program's uid still running: {_describe(left)}"


def _describe(pids: list[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out.append(f"{pid} (state {fields[0]}, ppid {fields[1]})")
        except OSError:
            out.append(f"{pid} (gone since)")
    return out


def _run(pool: JudgePool, code: str, tests: list[dict], bound_s: float, **kw: object) -> str:
    t0 = time.monotonic()
    v = judge(textwrap.dedent(code), tests, time_limit_s=kw.pop("time_limit_s", 1.0),
              memory_mb=kw.pop("memory_mb", 256), pool=pool, **kw)
    took = time.monotonic() - t0
    assert not v.correct, f"attack accepted: {v}"
    assert took < bound_s, f"took {took:.1f}s"
    _assert_nothing_left(pool)
    assert judge("print(42)", [{"testtype": "stdin", "input": "", "output": "42"}], pool=pool).correct
    return v.reason


def stdin(out: str = "ok") -> list[dict]:
    return [{"testtype": "stdin", "input": "", "output": out}]


def test_infinite_loop(pool: JudgePool) -> None:
    assert _run(pool, "while True:\n    pass\nprint('ok')", stdin(), 10) == "time_limit"


def test_sleeping_forever_hits_the_wall_clock(pool: JudgePool) -> None:
    assert _run(pool, "import time\ntime.sleep(3600)\nprint('ok')", stdin(), 10) == "time_limit"


def test_memory_bomb(pool: JudgePool) -> None:
    code = "xs = []\nwhile True:\n    xs.append(bytearray(50 << 20))\nprint('ok')"
    assert _run(pool, code, stdin(), 10) in ("memory_limit", "runtime_error")


def test_fork_bomb(pool: JudgePool) -> None:
    _need(pool, "uid")  # RLIMIT_NPROC does not bind root
    code = """
    import os
    while True:
        try:
            os.fork()
        except OSError:
            pass
    """
    assert _run(pool, code, stdin(), 15) in ("time_limit", "runtime_error")


def test_thread_bomb(pool: JudgePool) -> None:
    code = """
    import threading, time
    while True:
        threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
    """
    assert _run(pool, code, stdin(), 10) in ("runtime_error", "time_limit", "memory_limit")


def test_output_flood(pool: JudgePool) -> None:
    code = "import sys\nwhile True:\n    sys.stdout.write('ok\\n' * 100000)\n"
    assert _run(pool, code, stdin(), 15) in ("runtime_error", "wrong_answer", "time_limit")
    code = "import os\nwhile True:\n    os.write(2, b'x' * 65536)\n"  # stderr too
    assert _run(pool, code, stdin(), 15) in ("runtime_error", "time_limit")


def test_deep_recursion(pool: JudgePool) -> None:
    code = """
    import sys
    sys.setrecursionlimit(10 ** 9)
    def f(n):
        return f(n + 1) + 1
    print(f(0))
    """
    assert _run(pool, code, stdin(), 15) in ("runtime_error", "memory_limit", "time_limit")


def test_killing_the_parent_and_everything(pool: JudgePool) -> None:
    code = """
    import os, signal
    for pid in (os.getppid(), 1, -1, 0):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for pid in range(2, 40000):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    """
    zygote = _worker(pool).proc
    assert _run(pool, code, stdin(), 10) in ("runtime_error", "wrong_answer")
    assert zygote is _worker(pool).proc and zygote.poll() is None, _worker(pool).stderr_tail()  # it survived


def test_daemon_outliving_the_run(pool: JudgePool, tmp_path: Path) -> None:
    _need(pool, "uid")
    code = """
    import os, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(3600)
        os._exit(0)
    time.sleep(0.2)
    """
    _run(pool, code, stdin(), 10)


def test_no_process_survives_the_verdict_back_to_back(pool: JudgePool) -> None:
    """Regression: the judge returned before the run's tree was dead (the kill was asynchronous), and
    the zygote left U - PID 1 of the run's namespace, often dying after its supervisor was reaped - to
    a SIGCHLD handler that CPython can defer until the next control message, so a zombie of the
    program's uid outlived the run now and then. Every verdict must now find nothing of that uid but
    the next spare's supervisor: children ignoring SIGTERM, in their own sessions, double-forked, or
    just sleeping. (Before the fix, this failed within the first few runs.)"""
    _need(pool, "uid")
    program = """
    import os, signal, time
    for k in range({n}):
        try:
            if os.fork() == 0:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                if k % 2:
                    os.setsid()
                    if os.fork():
                        os._exit(0)
                time.sleep(3600)
        except OSError:
            pass
    print("no")
    """
    two = stdin() * 2  # the first fails: the run is killed while its program and children live
    for i in range(40):
        code = textwrap.dedent(program.format(n=i % 12))
        assert judge(code, two, time_limit_s=1.0, memory_mb=256, pool=pool).reason == "wrong_answer"
        _assert_nothing_left(pool)
    for _ in range(3):
        assert judge("import time\ntime.sleep(3600)", stdin(), time_limit_s=0.2, pool=pool).reason == "time_limit"
        _assert_nothing_left(pool)


def test_writing_outside_the_run_directory(pool: JudgePool) -> None:
    _need(pool, "fs", "uid")
    name = f"acereason-pwned-{secrets.token_hex(6)}"
    targets = [f"/tmp/{name}", f"/var/tmp/{name}", f"/dev/shm/{name}", str(REPO / name), f"/root/{name}"]
    code = f"""
    import os
    wrote = 0
    for path in {targets!r}:
        try:
            with open(path, "w") as fh:
                fh.write("x")
            wrote += 1
        except OSError:
            pass
    with open("inside.txt", "w") as fh:  # the run directory itself is writable
        fh.write("fine")
    print("ok" if wrote else "blocked")
    """
    _run(pool, code, stdin(), 10)
    for path in targets:
        assert not os.path.exists(path)


def test_reading_test_data_and_other_files(pool: JudgePool, tmp_path: Path) -> None:
    _need(pool, "fs")
    secret = secrets.token_hex(8)
    data = tmp_path / "tests.jsonl"
    data.write_text(secret)
    data.chmod(0o644)
    tmp_path.chmod(0o755)
    code = f"""
    import glob
    found = ""
    for path in [{str(data)!r}] + glob.glob("/tmp/**/*.jsonl", recursive=True) + glob.glob("{REPO}/**", recursive=True):
        try:
            found += open(path).read()
        except OSError:
            pass
    print({secret!r} if {secret!r} in found else "nothing")
    """
    assert _run(pool, code, stdin(secret), 10) == "wrong_answer"


def test_reading_the_environment(pool: JudgePool, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = secrets.token_hex(8)
    monkeypatch.setenv("ACEREASON_TEST_SECRET", secret)
    code = """
    import os
    env = dict(os.environ)
    try:
        env_text = open("/proc/1/environ").read() + open(f"/proc/{os.getppid()}/environ").read()
    except OSError:
        env_text = ""
    print(env.get("ACEREASON_TEST_SECRET") or ("leak" if "ACEREASON" in env_text else "nothing"))
    """
    assert _run(pool, code, stdin(secret), 10) == "wrong_answer"


def test_network_connect_to_local_listener(pool: JudgePool) -> None:
    _need(pool, "net")
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.setblocking(False)
    port = srv.getsockname()[1]
    code = f"""
    import socket
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"hi")
        print("connected")
    except OSError as err:
        print("blocked", err)
    """
    try:
        assert _run(pool, code, stdin("connected"), 10) == "wrong_answer"
        with pytest.raises(BlockingIOError):
            srv.accept()
    finally:
        srv.close()


def test_eq_override_functional_and_check(pool: JudgePool) -> None:
    code = """
    class Liar:
        def __eq__(self, other):
            return True
        def __ne__(self, other):
            return False
        __hash__ = object.__hash__
    class LyingInt(int):
        def __eq__(self, other):
            return True
        __hash__ = int.__hash__
    def f(x):
        return Liar() if x == 1 else LyingInt(0)
    """
    funcs = [{"testtype": "functional", "input": "1", "output": "123"}]
    assert _run(pool, code, funcs, 10, fn_name="f") == "wrong_answer"
    funcs = [{"testtype": "functional", "input": "2", "output": "123"}]
    assert _run(pool, code, funcs, 10, fn_name="f") == "wrong_answer"
    checks = [{"testtype": "check", "input": "def check(candidate):\n    assert candidate(1) == 123\n"
                                             "    assert candidate(2) == 123\n    assert 123 == candidate(2)\n"}]
    assert _run(pool, code, checks, 10, fn_name="f") == "wrong_answer"


def test_frame_walking_and_memory_scanning_find_no_expected_values(pool: JudgePool) -> None:
    secret = "EXPECTED-" + secrets.token_hex(8)
    code = """
    import gc, sys
    def steal():
        f = sys._getframe()
        seen = []
        while f is not None:
            seen += [repr(v) for v in list(f.f_locals.values()) + list(f.f_globals.values())]
            f = f.f_back
        seen += [o for o in gc.get_objects() if isinstance(o, str)]
        seen += [repr(o) for o in gc.get_objects() if isinstance(o, (dict, list, tuple))][:20000]
        for text in seen:
            i = text.find("EXPECTED-")
            if i >= 0:
                return text[i:i + 25]
        return "nothing"
    def f():
        return steal()
    print(steal())
    """
    check_src = f"def check(candidate):\n    assert candidate() == {secret!r}\n"
    assert _run(pool, code, [{"testtype": "check", "input": check_src}], 10, fn_name="f") == "wrong_answer"
    funcs = [{"testtype": "functional", "input": "", "output": f'"{secret}"'}]
    assert _run(pool, code, funcs, 10, fn_name="f") == "wrong_answer"
    assert _run(pool, code, stdin(secret), 10) == "wrong_answer"


def test_exit_zero_and_fake_success_markers(pool: JudgePool) -> None:
    checks = [{"testtype": "check", "input": "def check(candidate):\n    assert candidate() == 1\n"}]
    code = "print('ALL TESTS PASSED')\nprint('ok')\ndef f():\n    print('PASSED')\n    return 0\n"
    assert _run(pool, code, checks, 10, fn_name="f") == "wrong_answer"
    code = "import os, sys\nprint('ALL TESTS PASSED')\nsys.stdout.flush()\nos._exit(0)\n"
    assert _run(pool, code, checks, 10, fn_name="f") == "runtime_error"
    code = ("import os, sys\ndef f():\n    print('PASSED', flush=True)\n    sys.stderr.write('OK\\n')\n"
            "    os._exit(0)\n")
    assert _run(pool, code, checks, 10, fn_name="f") == "runtime_error"
    code = "def f():\n    raise SystemExit(0)\n"
    assert _run(pool, code, checks, 10, fn_name="f") == "runtime_error"
    # A stdin test runs in a process of its own, judged like a fresh one: os._exit(0) before any output
    # is an empty (wrong) answer, and so is unflushed output lost to os._exit.
    assert _run(pool, "import os\nos._exit(0)", stdin(), 10) == "wrong_answer"
    assert _run(pool, "import os\nprint('ok')\nos._exit(0)", stdin(), 10) == "wrong_answer"


def test_forging_protocol_messages(pool: JudgePool) -> None:
    """The program writes result frames on every descriptor it has; only check results from the trusted
    runner count, and forged frames for its own tests are just (wrong) output."""
    code = """
    import json, os, struct
    def frame(obj):
        body = json.dumps(obj).encode()
        return struct.pack(">Q", len(body)) + body
    msgs = [{"k": "r", "i": i, "status": "ok", "ok": True} for i in range(3)] + [{"k": "exit", "status": 0}]
    for fd in range(3, 64):
        for m in msgs:
            try:
                os.write(fd, frame(m))
            except OSError:
                pass
    def f():
        return 0
    """
    checks = [{"testtype": "check", "input": "def check(candidate):\n    assert candidate() == 1\n"}] * 3
    assert _run(pool, code, checks, 10, fn_name="f") in ("wrong_answer", "runtime_error")


def test_the_program_cannot_see_other_processes_or_gain_privileges(pool: JudgePool) -> None:
    _need(pool, "pid", "uid")
    # The program sees its own run only: its namespace's init (pid 1), its test runner and itself, all of
    # its own uid - none of the host's processes, no other run's.
    code = """
    import os
    procs = [p for p in os.listdir("/proc") if p.isdigit()]
    uids = {os.stat(f"/proc/{p}").st_uid for p in procs}
    try:
        os.setuid(0)
        root = True
    except OSError:
        root = False
    print("ok" if (len(procs) > 3 or uids != {os.getuid()} or root or os.getuid() == 0) else "isolated")
    """
    assert _run(pool, code, stdin(), 10) == "wrong_answer"


def test_worker_survives_and_pool_close_leaves_nothing() -> None:
    with JudgePool(1) as p:
        judge("import time\ntime.sleep(60)", stdin(), time_limit_s=0.2, pool=p)
        w = _worker(p)
        zygote_pid = w.proc.pid
    assert not _uid_processes(w.uid) and not _uid_processes(w.tuid)
    assert not os.path.exists(f"/proc/{zygote_pid}") or Path(f"/proc/{zygote_pid}/stat").read_text().split()[2] == "Z"


def test_fallback_without_namespaces_still_bounds_and_cleans_up(tmp_path: Path) -> None:
    """``isolate=False`` is the path taken where namespaces are refused: it must warn, still judge,
    still bound time and still kill a daemonised child (by sweeping the program's uid)."""
    with JudgePool(1, isolate=False) as p:
        with pytest.warns(RuntimeWarning, match="isolation layers unavailable"):
            assert judge("print(1)", stdin("1"), pool=p).correct
        layers = p.layers()
        assert not layers["net"] and not layers["pid"]
        if not layers["uid"]:
            pytest.skip("not root: no unprivileged uid to sweep")
        assert judge("while True:\n    pass", stdin(), time_limit_s=0.3, pool=p).reason == "time_limit"
        daemon = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                  "        time.sleep(3600)\n    os._exit(0)\ntime.sleep(0.2)\n")
        assert not judge(daemon, stdin(), pool=p).correct
        _assert_nothing_left(p)


def _sandbox_processes(judge_pid: int) -> list[str]:
    marker = f'"judge_pid": {judge_pid},'.encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes():
                found.append(entry.name)
        except OSError:
            continue
    return found


def test_judge_killed_mid_run_leaves_nothing() -> None:
    """If the judge process itself dies (SIGKILL, no atexit), its workers notice and kill every run."""
    import subprocess
    import sys

    script = textwrap.dedent("""
        import os, threading, time
        from acereason.verify.code import JudgePool, judge
        pool = JudgePool(1)
        tests = [{"testtype": "stdin", "input": "", "output": "1"}]
        threading.Thread(target=judge, args=("import time\\ntime.sleep(600)", tests),
                         kwargs={"time_limit_s": 100, "pool": pool}, daemon=True).start()
        time.sleep(1.0)
        os.kill(os.getpid(), 9)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert proc.wait(timeout=60) == -9
    deadline = time.monotonic() + 5.0
    while _sandbox_processes(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _sandbox_processes(proc.pid)
