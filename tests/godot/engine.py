"""Running the real Godot engine from tests: a private copy of the project, private user folders,
and the engine's log checked for errors.

`GODOT_BIN` names the binary (`.ci/run` sets it to `../shared/bin/godot` when that exists); without
it every engine test skips with a message. Nothing is written into the repository: the project is
copied to a temporary folder (its `.godot/` import cache included), and `HOME` and the XDG folders
point into that folder too, so `user://`, editor settings and caches stay there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ADDON = Path(__file__).resolve().parents[2] / "godot_addon"

# Lines this build prints on every run that say nothing about the addon (../shared/bin/GODOT.md).
HARMLESS = (
    "No renderers available.",  # headless
    "Could not set V-Sync mode",  # llvmpipe
    "Some locales are not properly supported by selected Text Server",
    "compiled without fontconfig",  # editor runs
)
# What the engine prints when a script broke or leaked; never harmless.
FATAL = (
    re.compile(r"SCRIPT ERROR"),
    re.compile(r"Parse Error", re.IGNORECASE),
    re.compile(r"leaked at exit", re.IGNORECASE),
    re.compile(r"^Leaked instance", re.MULTILINE),
    re.compile(r"still in use at exit"),
)
EXPECTED = re.compile(r"^EXPECTED ERROR: (.+)$", re.MULTILINE)
ERROR_LINE = re.compile(r"^(?:USER )?ERROR: (.*)$", re.MULTILINE)


def godot_binary() -> str:
    """The binary from GODOT_BIN, or skip the test saying how to run it."""
    binary = os.environ.get("GODOT_BIN", "")
    if not binary:
        pytest.skip(
            "GODOT_BIN is not set: the Godot tests need a Godot 4.3+ binary "
            "(GODOT_BIN=../shared/bin/godot pytest tests/godot)"
        )
    if not Path(binary).is_file():
        pytest.fail(f"GODOT_BIN={binary}: no such file")
    return binary


def engine_problems(output: str) -> list[str]:
    """Lines of an engine log that a test must refuse.

    Every `SCRIPT ERROR`, parse error and leak report; every `ERROR:` line that is neither one
    of the build's harmless lines nor announced by the test (`EXPECTED ERROR: fragment` printed
    before the call that causes it; each announcement matches one error line); and every
    announcement that no error line matched.
    """
    problems = [line for line in output.splitlines() if any(p.search(line) for p in FATAL)]
    expected = Counter(EXPECTED.findall(output))
    for message in ERROR_LINE.findall(output):
        if any(h in message for h in HARMLESS):
            continue
        match = next((e for e in expected if expected[e] > 0 and e in message), None)
        if match is None:
            problems.append(f"ERROR: {message}")
        else:
            expected[match] -= 1
    problems += [f"announced but no such error: {e}" for e, n in expected.items() for _ in range(n)]
    return problems


@dataclass
class Run:
    """One finished engine run."""

    args: list[str]
    returncode: int
    output: str  # stdout and stderr, interleaved as the engine wrote them

    def problems(self) -> list[str]:
        return engine_problems(self.output)

    def lines(self, prefix: str) -> list[str]:
        """The rest of every output line that starts with `prefix`."""
        return [line[len(prefix) :] for line in self.output.splitlines() if line.startswith(prefix)]

    def assert_clean(self) -> None:
        """Exit status 0 and no engine problem; the whole log in the message otherwise."""
        problems = self.problems()
        assert self.returncode == 0 and not problems, (
            f"godot {' '.join(self.args)} exited {self.returncode}; problems:\n"
            + "\n".join(problems)
            + f"\n--- log ---\n{self.output}"
        )


@dataclass
class GodotProject:
    """A private copy of `godot_addon/` with private user folders, imported once."""

    binary: str
    root: Path  # holds project/ and home/
    env: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.root / "project"

    @classmethod
    def copy_of(cls, binary: str, root: Path, source: Path = ADDON) -> GodotProject:
        project = cls(binary, root)
        shutil.copytree(source, project.path, ignore=shutil.ignore_patterns(".godot"))
        home = root / "home"
        for sub in ("data", "config", "cache"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        project.env = {
            **os.environ,
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_CACHE_HOME": str(home / "cache"),
        }
        return project

    def user_dir(self) -> Path:
        """Where `user://` of this project lives."""
        return self.root / "home/data/godot/app_userdata/LTX-2 addon examples and tests"

    def command(self, *args: str, user_args: tuple[str, ...] = ()) -> list[str]:
        cmd = [self.binary, "--path", str(self.path), *args]
        return cmd + (["--", *user_args] if user_args else [])

    def run(self, *args: str, user_args: tuple[str, ...] = (), timeout: float = 120.0) -> Run:
        """Runs the engine on this project to its exit."""
        cmd = self.command(*args, user_args=user_args)
        proc = subprocess.run(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=self.env,
            timeout=timeout,
            check=False,
        )
        return Run(cmd[1:], proc.returncode, proc.stdout)

    def popen(self, *args: str, user_args: tuple[str, ...] = ()) -> subprocess.Popen[str]:
        """Starts the engine on this project, its output on a pipe, line-buffered text."""
        return subprocess.Popen(
            self.command(*args, user_args=user_args),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            env=self.env,
        )

    def files(self) -> set[str]:
        """Every file of the project copy outside `.godot/`."""
        return {
            p.relative_to(self.path).as_posix()
            for p in self.path.rglob("*")
            if p.is_file() and ".godot" not in p.relative_to(self.path).parts
        }
