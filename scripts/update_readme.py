"""Regenerate the generated tables from genlab itself, in every file that holds one: the models
(`genlab models --brief`) and results (`genlab results --brief`, from the shipped checkpoints'
metrics) tables in README.md, and in full (with example commands, devices and published figures)
in docs/models.md and docs/results/README.md; the measures table (`genlab eval --list`) in
docs/metrics.md, the nearest-real table (`genlab results --nearest-real`) in
docs/results/blur-vs-sharpness.md, and the code-use table (`genlab results --failure-modes`) in
docs/results/failure-modes.md.

    uv run python scripts/update_readme.py

Each table sits between `<!-- NAME:start -->` and `<!-- NAME:end -->` markers; to move a table to
another file, move its markers there and its entry in FILES.
"""
import contextlib
import io
import re
from pathlib import Path

from genlab.cli import main

ROOT = Path(__file__).resolve().parents[1]
# file (relative to the repository root) -> {table name: genlab command that prints it}
FILES = {
    "README.md": {"models": ["models", "--brief"], "results": ["results", "--brief"],
                  "study": ["study", "results", "checkpoints/beta-sweep"]},
    "docs/models.md": {"models": ["models"]},
    "docs/metrics.md": {"metrics": ["eval", "--list"]},
    "docs/results/README.md": {"results": ["results"]},
    "docs/results/blur-vs-sharpness.md": {"nearest_real": ["results", "--nearest-real"]},
    "docs/results/failure-modes.md": {"failure_modes": ["results", "--failure-modes"]},
}


def command_output(argv: list[str]) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main(argv)
    return buf.getvalue().strip()


def fill(text: str, name: str, body: str, where: str = "README.md") -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"{where} has no <!-- {name}:start --> / <!-- {name}:end --> markers")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def regenerate(rel: str, text: str) -> str:
    """`text` (the contents of FILES' `rel`) with each of its tables as genlab prints it now."""
    for name, argv in FILES[rel].items():
        text = fill(text, name, command_output(argv), rel)
    return text


def main_() -> None:
    for rel, sections in FILES.items():
        path = ROOT / rel
        path.write_text(regenerate(rel, path.read_text()))
        print(f"updated {', '.join(sections)} in {rel}")


if __name__ == "__main__":
    main_()
