"""Regenerate the README's tables from genlab itself: models (`genlab models`), measures
(`genlab eval --list`) and results (`genlab results`, from the shipped checkpoints' metrics).

    uv run python scripts/update_readme.py
"""
import contextlib
import io
import re
from pathlib import Path

from genlab.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
SECTIONS = {"models": ["models"], "metrics": ["eval", "--list"], "results": ["results"]}


def command_output(argv: list[str]) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main(argv)
    return buf.getvalue().strip()


def fill(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no <!-- {name}:start --> / <!-- {name}:end --> markers")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def main_() -> None:
    text = README.read_text()
    for name, argv in SECTIONS.items():
        text = fill(text, name, command_output(argv))
    README.write_text(text)
    print(f"updated {', '.join(SECTIONS)} in {README}")


if __name__ == "__main__":
    main_()
