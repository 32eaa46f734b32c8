"""The README and docs list every command, doc page and recipe field that exists (issue 13).

A command or field added without documentation fails here, so the reference cannot drift from the code.
"""

from __future__ import annotations

import re
from pathlib import Path

import typer.main
from pydantic import BaseModel

from acereason.cli import app
from acereason.rl.recipe import ModelCfg, PassRateFilter, Recipe, StageCfg, TrainCfg, field_reference

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TRAINING = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")


def _command_paths(group: object, prefix: str = "acereason") -> list[str]:
    out = []
    for name, cmd in sorted(group.commands.items()):  # type: ignore[attr-defined]
        path = f"{prefix} {name}"
        out.extend(_command_paths(cmd, path) if hasattr(cmd, "commands") else [path])
    return out


def _readme_commands() -> str:
    section = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    return section.replace("\\|", "|")


def test_every_cli_command_is_in_the_readme() -> None:
    commands = _readme_commands()
    paths = _command_paths(typer.main.get_command(app))
    assert len(paths) >= 14
    missing = []
    for path in paths:
        parts = path.split()
        # `acereason curate math|code` documents both subcommands in one row
        alts = [path, " ".join(parts[:-1]) + f" {parts[-1]}|", " ".join(parts[:-1]) + "|" + parts[-1]]
        if not any(a in commands for a in alts) and not re.search(
                re.escape(" ".join(parts[:-1])) + r" [\w|-]*\b" + re.escape(parts[-1]) + r"\b", commands):
            missing.append(path)
    assert not missing, f"commands missing from README's Commands table: {missing}"


def test_every_doc_page_is_in_the_readme() -> None:
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    missing = [p for p in pages if f"(docs/{p})" not in README]
    assert not missing, f"docs pages missing from README's documentation table: {missing}"


def _fields(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def test_every_recipe_field_is_in_the_training_reference() -> None:
    reference = TRAINING.split("## Recipe reference", 1)[1]
    rows = set(re.findall(r"^\| `([a-z_0-9]+)` \|", reference, flags=re.M))
    missing = []
    for model in (Recipe, ModelCfg, TrainCfg, StageCfg):
        missing += [f"{model.__name__}.{f}" for f in _fields(model) if f not in rows]
    # the pass-rate filter's fields are described inline in its row
    missing += [f"PassRateFilter.{f}" for f in _fields(PassRateFilter) if f"`{f}`" not in reference]
    assert not missing, f"recipe fields missing from docs/training.md's reference: {missing}"


def test_every_train_field_says_what_it_does_and_whose_value_it_is() -> None:
    """Each ``TrainCfg`` field is documented, and marked as the paper's value or ours (issue 16)."""
    bad = [name for name, info in TrainCfg.model_fields.items()
           if not (info.description or "").startswith(("Paper: ", "Ours: ")) or len(info.description or "") < 30]
    assert not bad, f"TrainCfg fields without a 'Paper: ...' / 'Ours: ...' description: {bad}"
    marks = {(info.description or "").split(":", 1)[0] for info in TrainCfg.model_fields.values()}
    assert marks == {"Paper", "Ours"}


def test_the_train_reference_is_generated_from_the_field_descriptions() -> None:
    """docs/training.md's ``train`` table is exactly what ``field_reference(TrainCfg)`` renders from the
    docstrings (regenerate with scripts/recipe_reference.py)."""
    table = TRAINING.split("### `train`\n\n", 1)[1].split("\n\n", 1)[0] + "\n"
    assert table == field_reference(TrainCfg), "docs/training.md is out of date: run scripts/recipe_reference.py"
    for name, info in TrainCfg.model_fields.items():
        assert " ".join((info.description or "").split()).replace("``", "`") in table, name


def test_field_reference_renders_a_changed_description() -> None:
    """The check can fail: a model whose description differs renders a different row."""

    class Other(TrainCfg):
        seed: int = 3
        """Ours: another | text."""

    rows = field_reference(Other).splitlines()
    assert "| `seed` | `3` | Ours: another \\| text. |" in rows
    assert field_reference(Other) != field_reference(TrainCfg)


def test_every_recipe_field_has_a_description() -> None:
    """Attribute docstrings are the fields' descriptions (``use_attribute_docstrings``); none is missing."""
    missing = [f"{m.__name__}.{name}" for m in (Recipe, ModelCfg, PassRateFilter, StageCfg, TrainCfg)
               for name, info in m.model_fields.items() if not (info.description or "").strip()]
    assert not missing, f"recipe fields without a docstring: {missing}"
