"""The architecture document names the modules as they are."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def test_every_module_the_architecture_document_names_exists() -> None:
    text = ARCHITECTURE.read_text()
    named = set(re.findall(r"`(kakosheet/[a-z_/]+(?:\.py|/))`", text))
    assert named, "the document names no module"
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert missing == []


def test_the_architecture_document_names_every_module() -> None:
    text = ARCHITECTURE.read_text()
    package = ROOT / "kakosheet"
    unnamed = [p.name for p in package.glob("*.py") if p.stem not in ("__init__", "__main__") and f"`kakosheet/{p.name}`" not in text]
    unnamed += [f"{d.name}/" for d in package.iterdir() if d.is_dir() and (d / "__init__.py").exists() and f"`kakosheet/{d.name}/`" not in text]
    unnamed += [f"backends/{p.name}" for p in (package / "backends").glob("*.py") if p.stem != "__init__" and f"`{p.name}`" not in text]
    unnamed += [f"reports/{p.name}" for p in (package / "reports").glob("*.py") if p.stem != "__init__" and p.name not in text]
    assert unnamed == []


def test_the_readme_links_the_architecture_document() -> None:
    assert "docs/architecture.md" in (ROOT / "README.md").read_text()
