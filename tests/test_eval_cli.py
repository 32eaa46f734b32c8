"""``acereason eval`` in-process: one-line option errors before any model loads, the openai backend's up-front
server check, and output directories that never mix two models' samples."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from acereason.eval.cli import eval_command
from acereason.generate.base import Completion
from acereason.schema import Problem, write_records

app = typer.Typer()
app.command()(eval_command)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def problems(tmp_path: Path) -> Path:
    ps = [Problem(id=f"m{i}", domain="math", prompt=f"What is {i}+{i}?", answer=str(2 * i), source="toy")
          for i in range(3)]
    path = tmp_path / "toy_math.jsonl"
    write_records(path, ps, Problem)
    return path


@pytest.mark.parametrize(("extra", "message"), [
    (["--temperature", "-1"], "--temperature: must be >= 0, got -1"),
    (["--top-p", "0"], "--top-p: must be > 0, got 0"),
    (["--top-p", "1.5"], "--top-p: must be <= 1, got 1.5"),
    (["--k", "-3"], "--k: must be >= 1, got -3"),
    (["--k", "0"], "--k: must be >= 1, got 0"),
    (["--max-tokens", "0"], "--max-tokens: must be >= 1, got 0"),
    (["--limit", "0"], "--limit: must be >= 1, got 0"),
    (["--file", "math500"], "--file: expected KEY=VALUE, got 'math500'"),
    (["--benchmarks", "math500", "--file", "math500=/no/such.jsonl"], "--file: math500=/no/such.jsonl: no such file"),
    (["--benchmarks", "gsm9k"], "--benchmarks: unknown benchmark 'gsm9k'"),
    (["--device", "cuda:x"], "--device: bad CUDA device 'cuda:x'"),
    (["--device", "tpu"], "--device: unknown device 'tpu'"),
    (["--backend", "bogus"], "--backend: unknown backend 'bogus'"),
    (["--backend", "openai"], "--base-url: required with --backend openai"),
])
def test_bad_options_exit_2_with_one_line_before_anything_loads(tmp_path, problems, extra, message):
    empty = tmp_path / "not-a-model"  # loading it would fail with a traceback: only validation may answer
    empty.mkdir()
    res = _invoke("--model", str(empty), "--benchmarks", f"file:{problems}", "--out", str(tmp_path / "o"), *extra)
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith(f"error: {message}") and res.stderr.count("\n") == 1, res.stderr
    assert not (tmp_path / "o" / "samples.jsonl").exists()


def test_missing_hf_model_dir_names_the_option(tmp_path, problems):
    res = _invoke("--model", str(tmp_path / "nope"), "--benchmarks", f"file:{problems}")
    assert res.exit_code == 2 and res.stderr.startswith("error: --model: ") and "no such model directory" in res.stderr


class Scripted:
    """Answers every prompt with the right sum, so runs are checkable without a model."""

    def generate(self, prompts, n, params):
        out = []
        for msgs in prompts:
            i = int(msgs[-1]["content"].split("+")[0].split()[-1])
            out.append([Completion(f"\\boxed{{{2 * i}}}", [1], "stop") for _ in range(n)])
        return out


@pytest.fixture
def server():
    """An ``acereason serve`` HTTP server (in-process) serving models under the name 'tiny'."""
    from acereason.generate.serve import make_server

    srv = make_server(Scripted(), "tiny", port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.url
    srv.shutdown()
    srv.server_close()


def test_openai_backend_checks_the_server_and_model_once_up_front(tmp_path, problems, server):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    common = ["--backend", "openai", "--benchmarks", f"file:{problems}", "--k", "1", "--out", str(tmp_path / "o")]
    res = _invoke("--model", "tiny", "--base-url", dead, *common)
    assert res.exit_code == 2 and res.stderr == f"error: --base-url: cannot reach {dead}/v1: connection refused\n"
    res = _invoke("--model", "x", "--base-url", server, *common)
    assert res.exit_code == 2
    assert res.stderr == f"error: --model: server at {server} does not serve model 'x'; it serves: tiny\n"
    assert not (tmp_path / "o" / "samples.jsonl").exists()
    res = _invoke("--model", "tiny", "--base-url", server, *common)
    assert res.exit_code == 0, res.output
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert results["benchmarks"]["toy_math"]["avg_at_k"] == 1.0
    assert results["model_id"] == {"server": server, "name": "tiny"}


def test_two_models_with_the_same_dir_name_never_share_an_output_dir(tmp_path, problems, monkeypatch):
    import torch

    from acereason.models import build_char_tokenizer, build_tiny_model, save_tiny

    tok = build_char_tokenizer()
    model = build_tiny_model(tok)
    runs = [save_tiny(model, tok, tmp_path / "runA" / "stages" / "01-math-b")]
    with torch.no_grad():  # "another training run": the same architecture with other weights
        next(model.parameters()).add_(0.01)
    runs.append(save_tiny(model, tok, tmp_path / "runB" / "stages" / "01-math-b"))
    monkeypatch.chdir(tmp_path)
    common = ["--benchmarks", f"file:{problems}", "--k", "1", "--max-tokens", "4", "--device", "cpu"]
    first = _invoke("--model", str(runs[0]), *common)
    second = _invoke("--model", str(runs[1]), *common)
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    dirs = sorted((tmp_path / "runs" / "eval").iterdir())
    assert len(dirs) == 2 and all(d.name.startswith("01-math-b-") for d in dirs)
    for d in dirs:
        res = json.loads((d / "results.json").read_text())
        assert res["settings"]["generated_now"] == 3 and res["label"] == "01-math-b"
    # the same model with another temperature gets its own default directory too
    hotter = _invoke("--model", str(runs[0]), *common, "--temperature", "1.0")
    assert hotter.exit_code == 0 and len(list((tmp_path / "runs" / "eval").iterdir())) == 3
    # an explicit --out holding runA's samples refuses runB, and --fresh replaces them
    out = str(dirs[0]) if json.loads((dirs[0] / "results.json").read_text())["model"] == str(runs[0]) \
        else str(dirs[1])
    refused = _invoke("--model", str(runs[1]), *common, "--out", out)
    assert refused.exit_code == 2
    assert refused.stderr == (f"error: {out}: existing samples were made with a different model (weights); "
                              "use another --out or --fresh to discard them\n")
    fresh = _invoke("--model", str(runs[1]), *common, "--out", out, "--fresh")
    assert fresh.exit_code == 0
    assert json.loads((Path(out) / "results.json").read_text())["model"] == str(runs[1])
