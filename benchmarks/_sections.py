"""Each benchmark script owns one section of benchmarks/README.md, between its own markers."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"


def write_section(name: str, markdown: str) -> None:
    """Replace the section ``name`` (``<!-- name -->`` … ``<!-- /name -->``), leaving the others."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = (
        README.read_text()
        if README.exists()
        else "# Benchmarks\n\nEach section is written by its script.\n"
    )
    block = f"{start}\n{markdown.strip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = f"{text.rstrip()}\n\n{block}\n"
    README.write_text(text)
