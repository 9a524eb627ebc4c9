"""The README as a test: its fenced blocks, their directives and expected output, and a runner for shell blocks.

Conventions (the README's "Working on the README" section says the same for its authors):

- Every ```bash block runs, as pasted, in a fresh folder laid out like a clone (each top-level entry of the
  repository linked in, `.venv` linked to the environment running the tests, and a `gateway-data` of its own).
- A block may be preceded by a directive, an HTML comment `<!-- readme-test: WORD[: reason] -->` on the line
  above its fence: `skip: <why>` (not run, e.g. it needs Docker), `serve` (first start `.venv/bin/gateway serve`
  in the background, as the README's first command leaves it running), `host-network` (run on the machine's own
  loopback, e.g. to reach PostgreSQL; see ports below), `plan-document` (a ```json block that must be a valid
  plan document). Every ```json block must parse.
- A run of full-line comments directly below a command line (no blank line between) is what that command
  prints: each line must appear in the output, in order, `…` standing for any text and `<name>` for a value.
  Explanations go at the end of a command line or after a blank line.

Ports: the README names fixed ports (8080, 8081, 8082) and a parallel test run on the same machine may hold
them. So each block runs in a private network namespace (`unshare --net --map-root-user`, Linux): it gets its
own loopback, the ports are free there, and the block runs byte for byte as written. Where namespaces are not
available (another OS, a locked-down container), or for a `host-network` block, blocks run one at a time under a
machine-wide lock on the real loopback and fail, naming the port, when one of the README's ports is taken.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PORTS = (8080, 8081, 8082)
DIRECTIVE = re.compile(r"^<!--\s*readme-test:\s*(?P<word>[a-z-]+)\s*(?::\s*(?P<reason>.*?))?\s*-->$")
WORDS = {"skip", "serve", "host-network", "plan-document"}
#: Not part of a clone: local state and caches that a developer's checkout may have.
NOT_IN_A_CLONE = {".git", ".venv", "gateway-data", "gateway.toml", "careplan_gateway.egg-info"}
BLOCK_SECONDS = 240
SERVE = ".venv/bin/gateway serve > first-command.log 2>&1 &\n"


@dataclass(frozen=True)
class Block:
    """One fenced block of the README."""

    language: str
    code: str
    line: int  # of the opening fence, 1-based
    heading: str
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.heading} (line {self.line})"

    def expected_output(self) -> list[str]:
        """The comment lines that show what a command prints (see the module docstring)."""
        expected: list[str] = []
        follows_command = False
        for raw in self.code.splitlines():
            line = raw.strip()
            if not line:
                follows_command = False
            elif not line.startswith("#"):
                follows_command = True
            elif follows_command:
                expected.append(line[1:].strip())
        return expected


def blocks(text: str) -> list[Block]:
    """Every fenced block with its language, directives and the heading it sits under."""
    found: list[Block] = []
    lines = text.splitlines()
    heading, index = "", 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#") and not line.startswith("#!"):
            heading = line.lstrip("#").strip()
        fence = re.match(r"^```(\w*)\s*$", line)
        if fence:
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
            directives = _directives(lines, index)
            found.append(
                Block(fence.group(1), "\n".join(lines[index + 1 : end]) + "\n", index + 1, heading, directives)
            )
            index = end
        index += 1
    return found


def _directives(lines: list[str], fence: int) -> dict[str, str]:
    directives: dict[str, str] = {}
    above = fence - 1
    while above >= 0 and (match := DIRECTIVE.match(lines[above].strip())):
        word = match.group("word")
        if word not in WORDS:
            raise ValueError(f"README line {above + 1}: unknown readme-test directive {word!r} (known: {WORDS})")
        directives[word] = match.group("reason") or ""
        above -= 1
    return directives


def readme_blocks() -> list[Block]:
    return blocks(README.read_text("utf-8"))


# --- matching output ------------------------------------------------------------------------------------------


def pattern(expected: str) -> re.Pattern[str]:
    """A shown output line as a pattern: `…` is any text, `<name>` any value; runs of spaces are one space."""
    parts = re.split(r"(…|<[a-z][a-z -]*>)", " ".join(expected.split()))
    value = r"[^\s\",]+"  # an id, a number: up to a space, a quote or a comma
    pieces = (".*?" if part == "…" else value if part[:1] == "<" else re.escape(part) for part in parts)
    return re.compile("".join(pieces))


def missing_output(expected: list[str], output: str) -> list[str]:
    """Expected lines not found in `output` in order, each after the previous one's match; [] when all are there.

    A shown line may be part of an output line: curl prints no newline after a body, so the next command's output
    follows on the same line, in a terminal as here.
    """
    actual = "\n".join(" ".join(line.split()) for line in re.split(r"\r\n|\r|\n", output))
    position = 0
    for index, shown in enumerate(expected):
        hit = pattern(shown).search(actual, position)
        if hit is None:
            return expected[index:]
        position = hit.end()
    return []


# --- running a block ------------------------------------------------------------------------------------------


@cache
def private_network() -> bool:
    """Whether this machine lets a process have its own network namespace (and so its own free ports)."""
    if sys.platform != "linux" or not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = subprocess.run(
        ["unshare", "--net", "--map-root-user", "ip", "link", "set", "lo", "up"], capture_output=True, check=False
    )
    return probe.returncode == 0


def clone_like(folder: Path) -> Path:
    """`folder` laid out like a fresh clone with its virtual environment, for the README's relative paths."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in ROOT.iterdir():
        if entry.name not in NOT_IN_A_CLONE and not entry.name.endswith("_cache"):
            (folder / entry.name).symlink_to(entry)
    (folder / ".venv").symlink_to(Path(sys.prefix))
    return folder


@contextlib.contextmanager
def machine_lock(ports: tuple[int, ...] = PORTS) -> Iterator[None]:
    """One README block at a time on this machine's loopback (across parallel test runs), with its ports free."""
    with open(Path(tempfile.gettempdir()) / "careplan-gateway-readme.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        for port in ports:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    raise RuntimeError(f"port {port} is taken on this machine; the README's blocks need it free")
        yield


def run_block(block: Block, folder: Path, ports: tuple[int, ...] = PORTS) -> tuple[int, str]:
    """Run a bash block as pasted (bash, stopping at the first failing command); exit status and output."""
    script = folder / "readme-block.sh"
    script.write_text("set -euo pipefail\n" + (SERVE if "serve" in block.directives else "") + block.code, "utf-8")
    private = private_network() and "host-network" not in block.directives
    command = (
        ["unshare", "--net", "--map-root-user", "bash", "-c", "ip link set lo up && exec bash readme-block.sh"]
        if private
        else ["bash", "readme-block.sh"]
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "FIXTURE_"))}
    with contextlib.nullcontext() if private else machine_lock(ports):
        process = subprocess.Popen(
            command,
            cwd=folder,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: whatever it left running is stopped with it
        )
        try:
            output, _ = process.communicate(timeout=BLOCK_SECONDS)
        except subprocess.TimeoutExpired:
            _stop_group(process.pid)
            output, _ = process.communicate()
            return -1, output + f"\n[readme harness: stopped after {BLOCK_SECONDS} s]"
        finally:
            _stop_group(process.pid)
    return process.returncode, output


def _stop_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
        for _ in range(100):  # the background servers a block started are not our children: poll them out
            os.killpg(group, 0)
            time.sleep(0.05)
        os.killpg(group, signal.SIGKILL)
