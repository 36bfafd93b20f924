"""Which kakosheet a benchmark's syncs run: the one `import kakosheet` finds, or an export of another commit.

An export is `git archive REV` unpacked into a folder of its own, with `schemas/` and `templates/`
copied into its `kakosheet/` folder, where an installed kakosheet has them (setup.cfg installs them
as `kakosheet.schemas` and `kakosheet.templates`). Its children run in that folder with it first
on PYTHONPATH. A probe child then says which files `import kakosheet` and its data folders
resolved to: an editable install of the working tree would otherwise serve the export's missing
pieces from the new code, and the comparison would quietly measure one code twice.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = ("schemas", "templates")
PROBE = f"import json, sys; sys.path.append({str(HERE)!r}); from codes import code_identity; print(json.dumps(code_identity()))"


@dataclass
class Code:
    """The kakosheet that a sync child runs."""

    name: str  # "new": what `import kakosheet` finds from here; "old": the export of --baseline-rev
    identity: dict[str, Any]
    root: Path | None = None  # the export: its children run in it, with it first on PYTHONPATH
    rev: str | None = None

    @property
    def cwd(self) -> str | None:
        return str(self.root) if self.root else None

    @property
    def env(self) -> dict[str, str] | None:
        if self.root is None:
            return None
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.root), env.get("PYTHONPATH")) if p)
        return env

    def sync_cmd(self, book: Path, now: str) -> list[str]:
        main = self.root is None or (self.root / "kakosheet" / "__main__.py").exists()
        entry = ["-m", "kakosheet"] if main else ["-c", "from kakosheet.cli import run; run()"]
        return [sys.executable, *entry, "sync", str(book), "--now", now]

    def describe(self) -> str:
        ident = self.identity
        if self.rev is not None:
            return f"{self.rev} = {ident['git_head'][:10]}, exported to {self.root}"
        git = f", git {ident['git_head'][:10]}{' + uncommitted changes' if ident.get('git_dirty') else ''}" if ident.get("git_head") else ""
        return f"{ident['path']}{git}"


def code_identity() -> dict[str, Any]:
    """Which kakosheet this interpreter imports: its folders, a hash of its code and data files, and the git commit if any."""
    package = importlib.import_module("kakosheet")
    root = Path(package.__file__ or "").resolve().parent
    folders = {"kakosheet": root} | {name: _data_folder(root, name) for name in DATA}
    digest = hashlib.sha256()
    for key, folder in folders.items():
        others = [f for f in folders.values() if f != folder and f.is_relative_to(folder)]
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".py", ".toml") and not any(path.is_relative_to(o) for o in others):
                digest.update(f"{key}/{path.relative_to(folder)}\0".encode())
                digest.update(path.read_bytes())
    head = _git(root, "rev-parse", "HEAD")
    changed = _git(root, "status", "--porcelain", "--untracked-files=no", "--", *map(str, folders.values())) if head else None
    dirty = None if changed is None else bool(changed)  # edits to the measured files, not to the rest of the checkout
    return {
        "version": getattr(package, "__version__", None), "path": str(root), "folders": {k: str(v) for k, v in folders.items()},
        "sha256": digest.hexdigest(), "git_head": head, "git_dirty": dirty,
    }


def _data_folder(root: Path, name: str) -> Path:
    """Where `kakosheet.<name>` is imported from; in a checkout run without installing, the folder beside the package."""
    try:
        spec = importlib.util.find_spec(f"kakosheet.{name}")
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    return (root.parent / name).resolve()


def _git(folder: Path, *args: str) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def compile_bytecode(code: Code) -> None:
    """Compile `code`'s modules to bytecode, as installing a package does: its children then load
    them instead of compiling every module on every run (which they would in a working tree or an
    export when PYTHONDONTWRITEBYTECODE is set, as it is on some machines), so that neither code
    measured pays a cost an installed kakosheet never has."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(code.identity["path"])], check=True, cwd=code.cwd, env=code.env)


def probe(cwd: str | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    """code_identity() of a child run the way the syncs are: `python -c` (cwd first on sys.path, as with -m) in `cwd`, with `env`."""
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=cwd, env=env)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise SystemExit(f"could not import kakosheet in {cwd or os.getcwd()}:\n{done.stdout}{done.stderr}")
    return json.loads(lines[-1])


def working_tree() -> Code:
    """The code `python -m kakosheet` runs from this process's folder: the new code of a comparison."""
    code = Code("new", probe())
    if Path(code.identity["path"]) != REPO / "kakosheet":
        print(f"note: `import kakosheet` finds {code.identity['path']}, not {REPO / 'kakosheet'} beside this script", file=sys.stderr)
    return code


def export(rev: str, into: Path) -> Code:
    """Unpack commit `rev` of this repository into `into` (emptied first) and check that its children import it, and only it."""
    commit = _git(REPO, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if not commit:
        raise SystemExit(f"--baseline-rev {rev!r} is not a commit of {REPO}")
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(REPO), "archive", "--format=tar", commit], stdout=subprocess.PIPE)
    untar = subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, capture_output=True, text=True)
    assert archive.stdout is not None
    archive.stdout.close()
    if archive.wait() != 0 or untar.returncode != 0:
        raise SystemExit(f"could not export {rev} ({commit[:10]}) into {into}: {untar.stderr}")
    package = into / "kakosheet"
    if not (package / "__init__.py").exists():
        raise SystemExit(f"{rev} ({commit[:10]}) has no kakosheet/ package to measure")
    for name in DATA:
        if (into / name).is_dir() and not (package / name).exists():
            shutil.copytree(into / name, package / name)
    code = Code("old", {}, root=into.resolve(), rev=rev)
    code.identity = probe(code.cwd, code.env)
    stray = {k: v for k, v in code.identity["folders"].items() if not Path(v).is_relative_to(code.root)}
    if stray:
        found = ", ".join(f"{k} from {v}" for k, v in stray.items())
        raise SystemExit(f"--baseline-rev {rev}: the exported code in {into} imports {found}, outside the export; nothing was measured")
    code.identity.update(git_head=commit, git_dirty=False, rev=rev)
    return code
