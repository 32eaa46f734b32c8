"""``acereason demo``: the whole recipe in miniature on a CPU, in minutes, with honest measurements.

Phases (each leaves a marker in ``OUT/phases.json``, so a rerun with the same ``--out`` resumes):

1. ``data``: disjoint splits of generated tasks: a fixed, limited set of SFT traces; dev sets for the SFT
   stopping rule; RL prompts that carry **only answers or tests** (no traces); held-out test sets.
2. ``sft``: a tiny Qwen2 and a char tokenizer built in-process, trained on the traces until dev accuracy
   stops improving or a step cap, keeping the best dev checkpoint (the "distilled SFT model" the paper
   starts from).
3. ``rl``: the demo recipe (:mod:`acereason.demo.recipe`, also ``configs/demo.yaml``) through the real
   trainer: math RL (two-step length curriculum), then code RL (epoch-wise removal of solved prompts, 25%
   math replay), rewards from the real verifiers and sandbox.
4. ``eval``: avg@k on held-out math and code (k seeded samples at temperature 0.6) after SFT, after math
   RL and after code RL, with bootstrap 95% intervals and paired sign-flip permutation tests between
   checkpoints.
5. ``controls`` (``--controls``): for each RL phase, SFT continued on the same limited traces for the
   same wall time, from the same starting checkpoint: the equal-compute alternative.
6. ``report``: ``summary.json``, ``report.md`` / ``report.html`` and a terminal table.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from acereason.atomic import write_json
from acereason.demo.evaluate import greedy_correct, paired_permutation_test, sampled_correct
from acereason.demo.sft import SFTConfig, sft_train
from acereason.demo.tasks import CODE_INSTRUCTION, MATH_INSTRUCTION, Task, make_split
from acereason.schema import Problem, read_problems, write_records


@dataclass
class DemoSizes:
    """How much of everything; ``fast`` shrinks it for tests."""

    sft_traces: int = 700  # per domain: the fixed, limited "distilled" set
    dev: int = 100  # per domain, for the SFT stopping rule
    rl_prompts_math: int = 2000
    rl_prompts_code: int = 768
    test: int = 300  # per domain, held out
    sft_max_steps: int = 1600
    sft_min_steps: int = 1200  # no plateau stop before this (seed 1 "plateaued" at 6% dev accuracy without it)
    sft_eval_every: int = 100
    sft_target: float | None = None  # None: stop on the dev plateau (or the step cap), not at a fixed accuracy
    sft_lr: float = 2e-3
    sft_batch_size: int = 32  # the control continues SFT with the same settings
    rl_steps_scale: float = 1.0
    math_max_tokens: int = 64
    code_max_tokens: int = 96
    eval_k: int = 4  # samples per held-out problem (avg@k), at the paper's eval temperature
    eval_temperature: float = 0.6

    @classmethod
    def fast(cls) -> DemoSizes:
        return cls(sft_traces=64, dev=16, rl_prompts_math=64, rl_prompts_code=32, test=24, sft_max_steps=20,
                   sft_min_steps=0, sft_eval_every=10, sft_target=0.5, rl_steps_scale=0.08)


class Phases:
    """Completion markers: ``OUT/phases.json`` maps a finished phase to what it produced."""

    def __init__(self, out: Path) -> None:
        self.path = out / "phases.json"
        self.done: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def mark(self, name: str, info: Any) -> None:
        self.done[name] = info
        write_json(self.path, self.done, indent=1)


def _log(msg: str) -> None:
    print(msg, flush=True)


def _write_tasks(path: Path, tasks: list[Task], with_traces: bool) -> None:
    probs = [t.problem.model_copy(update={"meta": {**t.problem.meta, "trace": t.trace}}) if with_traces
             else t.problem for t in tasks]
    write_records(path, probs, Problem)


def _read_tasks(path: Path) -> list[Task]:
    return [Task(p.model_copy(update={"meta": {k: v for k, v in p.meta.items() if k != "trace"}}), p.meta["trace"])
            for p in read_problems(path)]


def make_data(out: Path, seed: int, sizes: DemoSizes) -> None:
    """Write every split under ``OUT/data``; statements never repeat across splits."""
    d = out / "data"
    d.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    base = seed * 100
    # held-out sets are drawn first so that no later split can take their statements
    _write_tasks(d / "test_math.jsonl", make_split("math", sizes.test, base + 1, seen), False)
    _write_tasks(d / "test_code.jsonl", make_split("code", sizes.test, base + 2, seen), False)
    _write_tasks(d / "dev_math.jsonl", make_split("math", sizes.dev, base + 3, seen), False)
    _write_tasks(d / "dev_code.jsonl", make_split("code", sizes.dev, base + 4, seen), False)
    _write_tasks(d / "sft.jsonl", make_split("math", sizes.sft_traces, base + 5, seen)
                 + make_split("code", sizes.sft_traces, base + 6, seen), True)
    _write_tasks(d / "rl_math.jsonl", make_split("math", sizes.rl_prompts_math, base + 7, seen), False)
    _write_tasks(d / "rl_code.jsonl", make_split("code", sizes.rl_prompts_code, base + 8, seen), False)


def _load_model(path: Path, device: torch.device):
    from transformers import AutoModelForCausalLM

    from acereason.generate.hf import load_tokenizer

    tok = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).to(device)
    return model.eval(), tok


def _accuracy(model, tok, problems: list[Problem], sizes: DemoSizes) -> list[bool]:
    """Greedy dev accuracy (the SFT stopping rule)."""
    max_tokens = sizes.math_max_tokens if problems and problems[0].domain == "math" else sizes.code_max_tokens
    return greedy_correct(model, tok, problems, max_tokens, MATH_INSTRUCTION, CODE_INSTRUCTION)


def _evaluate_point(out: Path, label: str, model, tok, sizes: DemoSizes) -> dict[str, list[list[bool]]]:
    """Held-out outcomes per domain (``eval_k`` seeded samples per problem at the paper's temperature 0.6);
    also written as an eval point the report understands."""
    from acereason.eval.metrics import summarize

    d = out / "data"
    res: dict[str, list[list[bool]]] = {}
    bench: dict[str, Any] = {}
    for domain in ("math", "code"):
        probs = list(read_problems(d / f"test_{domain}.jsonl"))
        max_tokens = sizes.math_max_tokens if domain == "math" else sizes.code_max_tokens
        ok = sampled_correct(model, tok, probs, max_tokens, MATH_INSTRUCTION, CODE_INSTRUCTION, sizes.eval_k,
                             sizes.eval_temperature, seed=1234)
        res[domain] = ok
        s = summarize(ok)
        s.update(domain=domain, by_difficulty={}, by_month={}, truncated_frac=0.0, mean_response_tokens=0.0)
        bench[f"demo_{domain}"] = s
    ev = out / "eval" / label
    ev.mkdir(parents=True, exist_ok=True)
    write_json(ev / "outcomes.json", res, indent=None)
    write_json(ev / "results.json", {
        "label": label, "model": label, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "settings": {"temperature": sizes.eval_temperature, "top_p": 0.95, "max_tokens": sizes.code_max_tokens,
                     "k": sizes.eval_k, "backend": "hf"}, "benchmarks": bench}, indent=1)
    k = sizes.eval_k
    _log(f"  {label}: math avg@{k} {_mean(res['math']):.3f}  code avg@{k} {_mean(res['code']):.3f}")
    return res


def _mean(outcomes: list[list[bool]]) -> float:
    return sum(sum(o) / len(o) for o in outcomes) / max(len(outcomes), 1)


def _outcomes(out: Path, label: str) -> dict[str, list[list[bool]]]:
    return json.loads((out / "eval" / label / "outcomes.json").read_text())


def run_sft(out: Path, seed: int, sizes: DemoSizes, device: torch.device) -> dict[str, Any]:
    from acereason.models import TinyModelConfig, build_char_tokenizer, build_tiny_model, save_tiny

    torch.manual_seed(seed)
    tok = build_char_tokenizer()
    model = build_tiny_model(tok, TinyModelConfig(layers=2, hidden=128), seed=seed).to(device)
    traces = _read_tasks(out / "data" / "sft.jsonl")
    dev = {dom: list(read_problems(out / "data" / f"dev_{dom}.jsonl")) for dom in ("math", "code")}

    def dev_eval() -> dict[str, float]:
        return {dom: sum(ok) / len(ok) for dom, ok in ((d, _accuracy(model, tok, ps, sizes)) for d, ps in dev.items())}

    cfg = SFTConfig(lr=sizes.sft_lr, batch_size=sizes.sft_batch_size, max_steps=sizes.sft_max_steps,
                    eval_every=sizes.sft_eval_every, target_accuracy=sizes.sft_target, patience=4,
                    min_steps=sizes.sft_min_steps, seed=seed)
    result = sft_train(model, tok, traces, cfg, MATH_INSTRUCTION, CODE_INSTRUCTION, dev_eval, log=_log)
    save_tiny(model, tok, out / "sft")
    write_json(out / "sft" / "sft_history.json", asdict(result), indent=1)
    return {"steps": result.steps, "best_step": result.best_step, "wall_s": result.wall_s, "stopped": result.stopped}


def run_rl(out: Path, seed: int, sizes: DemoSizes, device: torch.device) -> dict[str, Any]:
    from acereason.demo.recipe import demo_recipe
    from acereason.rl.logging import read_metrics
    from acereason.rl.recipe import recipe_from_dict
    from acereason.rl.rundir import has_run
    from acereason.rl.trainer import Trainer

    raw = demo_recipe()
    raw["base_dir"] = str(out)  # model.path ("sft") and the data files are relative to the run directory
    raw["train"].update(seed=seed, device=str(device))
    for st in raw["stages"]:
        if "steps" in st:
            st["steps"] = max(2, round(st["steps"] * sizes.rl_steps_scale))
        if sizes.rl_steps_scale < 1 and "epochs" in st:
            st["epochs"] = 1
    recipe = recipe_from_dict(raw, source="demo recipe", check_files=True)
    # metrics.jsonl, checkpoints/, stages/ under OUT; a rerun resumes (and refuses a changed recipe)
    Trainer(recipe, out, resume=has_run(out), progress=True).run()
    walls: dict[str, float] = {}
    for m in read_metrics(out / "metrics.jsonl"):
        walls[m["stage"]] = walls.get(m["stage"], 0.0) + m["time/step"]
    return {"stage_wall_s": walls, "stages": [s.name for s in recipe.stages]}


def run_control(out: Path, label: str, start: Path, budget_s: float, seed: int, sizes: DemoSizes,
                device: torch.device) -> None:
    """Equal-compute control: continue SFT from ``start`` on the same limited traces for ``budget_s``."""
    model, tok = _load_model(start, device)
    traces = _read_tasks(out / "data" / "sft.jsonl")  # both domains, as the SFT model was trained
    cfg = SFTConfig(lr=sizes.sft_lr, batch_size=sizes.sft_batch_size, max_steps=10**9, eval_every=10**9,
                    target_accuracy=None, time_budget_s=budget_s, seed=seed + 17)
    res = sft_train(model, tok, traces, cfg, MATH_INSTRUCTION, CODE_INSTRUCTION, None, log=_log)
    _log(f"  control {label}: {res.steps} SFT steps in {res.wall_s:.0f}s")
    _evaluate_point(out, label, model, tok, sizes)


def _compare(before: dict[str, list[list[bool]]], after: dict[str, list[list[bool]]], domain: str) -> dict[str, Any]:
    """Paired comparison on held-out problems: mean change, problems up/down, sign-flip permutation p."""
    b = [sum(o) / len(o) for o in before[domain]]
    a = [sum(o) / len(o) for o in after[domain]]
    return {"delta": (sum(a) - sum(b)) / len(a), "gained": sum(y > x for x, y in zip(b, a, strict=True)),
            "lost": sum(y < x for x, y in zip(b, a, strict=True)), "p": paired_permutation_test(b, a)}


def summarize_run(out: Path, rl_info: dict[str, Any], controls: bool,
                  sft_info: dict[str, Any] | None = None) -> dict[str, Any]:
    from acereason.eval.metrics import summarize

    labels = ["00-sft", "01-math-rl", "02-code-rl"]
    res = {lab: _outcomes(out, lab) for lab in labels}
    rows = []
    for lab in labels:
        row: dict[str, Any] = {"checkpoint": lab}
        for dom in ("math", "code"):
            s = summarize([list(o) for o in res[lab][dom]])
            row[dom] = f"{100 * s['avg_at_k']:.1f}% [{100 * s['ci95'][0]:.1f}, {100 * s['ci95'][1]:.1f}]"
        rows.append(row)
    tests = {
        "math RL on math": _compare(res["00-sft"], res["01-math-rl"], "math"),
        "math RL on code (cross-domain)": _compare(res["00-sft"], res["01-math-rl"], "code"),
        "code RL on code": _compare(res["01-math-rl"], res["02-code-rl"], "code"),
        "code RL on math": _compare(res["01-math-rl"], res["02-code-rl"], "math"),
    }
    notes = []
    for name, t in tests.items():
        sig = "significant" if t["p"] < 0.05 else "not significant"
        notes.append(f"{name}: {100 * t['delta']:+.1f} points ({t['gained']} problems up, {t['lost']} down; paired "
                     f"permutation p={t['p']:.3g}, {sig})")
    cross = tests["math RL on code (cross-domain)"]
    if cross["p"] < 0.05:
        notes.append("Math RL " + ("improved" if cross["delta"] > 0 else "hurt") + " held-out code: " + (
            "transfer in miniature (the code tasks need the same arithmetic)." if cross["delta"] > 0 else
            "forgetting at toy scale, not transfer."))
    else:
        notes.append("Math RL's effect on code is within noise at this scale: no evidence of transfer or forgetting.")
    if controls:
        for lab, base, dom in (("01c-math-sft-control", "01-math-rl", "math"), ("02c-code-sft-control", "02-code-rl",
                                                                              "code")):
            ctrl = _outcomes(out, lab)
            t = _compare(ctrl, res[base], dom)
            rows.append({"checkpoint": lab, **{d: f"{100 * _mean(ctrl[d]):.1f}%" for d in ("math", "code")}})
            verdict = ("RL is better" if t["delta"] > 0 else "the SFT continuation is better") if t["p"] < 0.05 \
                else "no significant difference"
            notes.append(f"{base} vs equal-compute SFT control on {dom}: {100 * t['delta']:+.1f} points "
                         f"(paired permutation p={t['p']:.3g}; {verdict}). Continued SFT uses the same limited traces; "
                         "RL uses prompts with only answers or tests.")
            if t["delta"] < 0 and t["p"] < 0.05 and sft_info and sft_info.get("stopped") == "max_steps" \
                    and sft_info.get("best_step") == sft_info.get("steps"):
                notes.append(f"SFT stopped at its step cap ({sft_info.get('steps')} steps) with dev accuracy "
                             "still rising, so at this scale more SFT on the same traces was still the better use "
                             "of that time.")
    summary = {"table": rows, "notes": notes, "tests": tests, "rl": rl_info}
    write_json(out / "summary.json", summary, indent=1)
    return summary


def _check_same_demo(out: Path, phases: Phases, config: dict[str, Any], fast: bool) -> None:
    """A rerun resumes only the same demo: another seed or size set (``--fast``) would reuse the first run's
    data and SFT model under the new options, so it is refused before any work, naming what differs."""
    from acereason.cli_util import OptionError

    old = phases.done.get("_config")
    if old is None:
        if any(not k.startswith("_") for k in phases.done):  # a run from before configs were recorded
            raise OptionError("--out", f"{out} holds a demo run that did not record its options; use another --out")
        phases.mark("_config", config)
        return
    differs = [k for k in ("seed", "sizes") if old.get(k) != config[k]]
    if differs:
        was = f"seed {old.get('seed')}, " + ("--fast" if old.get("sizes") == asdict(DemoSizes.fast()) else
                                             "default sizes" if old.get("sizes") == asdict(DemoSizes()) else
                                             "other sizes")
        now = f"seed {config['seed']}, " + ("--fast" if fast else "default sizes")
        raise OptionError("--out", f"{out} holds a demo run with {was}, not {now}; rerun with its options to "
                                   "resume it, or use another --out")


def run_demo(out: Path, seed: int = 0, fast: bool = False, controls: bool = False, device: str = "cpu") -> dict:
    """Run (or resume) every phase; return the summary. ``device`` is checked first (``OptionError``
    naming ``--device``), before any work."""
    from acereason.cli_util import check_device

    dev = torch.device(check_device("--device", device))
    # Absolute once, here: every path below is built from it, and the trainer's recipe resolves its
    # relative paths against it (a relative OUT was joined twice: runs/demo/runs/demo/sft).
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    sizes = DemoSizes.fast() if fast else DemoSizes()
    random.seed(seed)
    torch.manual_seed(seed)
    phases = Phases(out)
    _check_same_demo(out, phases, {"seed": seed, "sizes": asdict(sizes)}, fast)
    t0 = time.perf_counter()
    timings: dict[str, float] = dict(phases.done.get("_timings", {}))

    def phase(name: str, fn, *args) -> Any:
        if name in phases.done:
            _log(f"[{name}] done earlier, skipping")
            return phases.done[name]
        _log(f"[{name}]")
        t = time.perf_counter()
        info = fn(*args)
        timings[name] = round(time.perf_counter() - t, 1)
        phases.mark(name, info)
        phases.mark("_timings", timings)
        return info

    phase("data", lambda: make_data(out, seed, sizes) or {"sizes": asdict(sizes)})
    phase("sft", run_sft, out, seed, sizes, dev)
    phase("eval-sft", lambda: _evaluate_point(out, "00-sft", *_load_model(out / "sft", dev), sizes) and True)
    rl = phase("rl", run_rl, out, seed, sizes, dev)
    math_stage, code_stage = out / "stages" / "01-math-long", out / "stages" / "02-code"
    phase("eval-math-rl", lambda: _evaluate_point(out, "01-math-rl", *_load_model(math_stage, dev), sizes) and True)
    phase("eval-code-rl", lambda: _evaluate_point(out, "02-code-rl", *_load_model(code_stage, dev), sizes) and True)
    if controls:
        walls = rl["stage_wall_s"]
        phase("control-math", run_control, out, "01c-math-sft-control", out / "sft",
              walls.get("math-short", 0) + walls.get("math-long", 0), seed, sizes, dev)
        phase("control-code", run_control, out, "02c-code-sft-control", math_stage, walls.get("code", 0),
              seed, sizes, dev)
    summary = summarize_run(out, rl, controls, phases.done.get("sft"))
    summary["timings_s"] = {**timings, "total_this_invocation": round(time.perf_counter() - t0, 1)}
    write_json(out / "summary.json", summary, indent=1)
    try:
        from acereason.report import build_report

        build_report(out)
    except ImportError:  # the report package is optional for the demo's numbers
        pass
    return summary
