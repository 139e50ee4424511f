"""baton_sdk: write baton stage plugins in Python without raw bindings.

    from dataclasses import dataclass, field
    from baton_sdk import stage, Fail, src, log, progress, publish

    @dataclass
    class Config:
        max: int = 100
        include: list[str] = field(default_factory=lambda: ["**/*.py"])

    @stage(name="lines", version="0.1.0", description="fails on over-long lines")
    def run(config: Config, info):
        ...
        raise Fail("src/a.py:3 is 120 characters long")

Why it is shaped this way:
- The config is a dataclass: the JSON Schema that `describe()` returns (and
  `baton check` uses to catch a typo in `with`) is derived from it, and the
  same fields are checked and filled at run time. No one writes it twice.
- Every host error (an artifact, a process) raises `HostError` whose message
  is the host's own; anything escaping `run` becomes the step's failure with
  the exception's type, message and the stage's file:line, instead of the
  runtime losing it (`raise Err("x")` with a string is no stage error).
- `raise SystemExit(n)` fails the step saying `stage exited with code n`
  (`SystemExit(0)` passes it).

componentize-py bundles only the modules imported while it builds the
component, so everything this package needs is imported here.
"""

import dataclasses
import glob as _glob
import os
import sys
import traceback
import typing

try:
    from componentize_py_types import Err
    from wit_world import exports
    from wit_world.imports import artifacts as _artifacts
    from wit_world.imports import log as _log
    from wit_world.imports import process as _process
    from wit_world.imports import types as _types
except ImportError:
    # Plain CPython (a stage's unit tests): the config schema, `Dir` and the
    # errors work; host calls do not exist outside a component.
    from baton_sdk import _offline as _off

    Err, exports, _artifacts, _log, _process, _types = _off.Err, _off, _off, _off, _off, _off

from baton_sdk import schema as _schema
from baton_sdk.errors import ConfigError, Fail, HostError, escaped_headline

__all__ = [
    "stage", "Fail", "ConfigError", "HostError", "src", "workspace", "Dir", "log", "progress",
    "publish", "fetch", "artifacts", "run", "spawn", "Output", "config_schema",
]

config_schema = _schema.config_schema


# --- Logging -------------------------------------------------------------------------


class _Log:
    """`log.info("…")` and friends: lines in the step's log."""

    def trace(self, message):
        _log.log(_types.Level.TRACE, str(message))

    def debug(self, message):
        _log.log(_types.Level.DEBUG, str(message))

    def info(self, message):
        _log.log(_types.Level.INFO, str(message))

    def warn(self, message):
        _log.log(_types.Level.WARN, str(message))

    def error(self, message):
        _log.log(_types.Level.ERROR, str(message))


log = _Log()


def progress(done, total, message=""):
    """Reports `done` of `total` (the live view shows it)."""
    _log.progress(int(done), int(total), str(message))


# --- Files -----------------------------------------------------------------------------


class Dir:
    """A folder of the stage's world: `src` (the project, read-only, at /src)
    or `workspace` (the board's workspace, read-write). Paths are relative to
    it; absolute paths and `..` are refused."""

    def __init__(self, root):
        self.root = root

    def path(self, rel):
        rel = str(rel)
        if rel.startswith(self.root + "/"):
            rel = rel[len(self.root) + 1:]
        if rel.startswith("/") or ".." in rel.split("/"):
            raise ValueError(f"{rel}: must be a path inside {self.root}, without `..`")
        return os.path.join(self.root, rel) if rel not in ("", ".") else self.root

    def read(self, rel):
        """The bytes of a file."""
        with open(self.path(rel), "rb") as f:
            return f.read()

    def read_text(self, rel, encoding="utf-8"):
        """The text of a file."""
        with open(self.path(rel), "r", encoding=encoding) as f:
            return f.read()

    def write(self, rel, data):
        """Writes bytes or text to a file, making its folders."""
        full = self.path(rel)
        folder = os.path.dirname(full)
        if folder and not os.path.isdir(folder):
            # Not `exist_ok` alone: makedirs would climb to `/`, which the
            # stage cannot see.
            os.makedirs(folder, exist_ok=True)
        with open(full, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        return rel

    def exists(self, rel):
        return os.path.exists(self.path(rel))

    def list(self, rel="."):
        """The names in a folder, sorted."""
        return sorted(os.listdir(self.path(rel)))

    def glob(self, pattern):
        """Files matching a glob pattern (`**` crosses folders), as sorted
        paths relative to the folder."""
        base = self.path(".")
        hits = _glob.glob(self.path(pattern), recursive=True)
        return sorted(os.path.relpath(h, base) for h in hits if os.path.isfile(h))


src = Dir("/src")
workspace = Dir("/workspace")


# --- Artifacts -------------------------------------------------------------------------


# How the host's error variants read (the wording of the Rust SDK).
_ERROR_WORDS = {
    "ArtifactError_InvalidName": "invalid artifact name",
    "ArtifactError_NotFound": "artifact not found",
    "ArtifactError_NeverPublished": "artifact never published",
    "ArtifactError_Corrupt": "corrupt artifact",
    "ArtifactError_Io": "artifact i/o error",
}


def _host_error(action, error):
    """A HostError from a host's error variant, e.g. `ArtifactError_NotFound`."""
    variant = type(error).__name__
    kind = "".join(" " + c.lower() if c.isupper() else c for c in variant.split("_", 1)[-1]).strip()
    words = _ERROR_WORDS.get(variant, kind)
    return HostError(f"{action}: {words}: {error.value}", kind=kind, message=error.value)


def publish(name, path):
    """Publishes a workspace file or folder as artifact `name`."""
    try:
        return _artifacts.put(name, str(path))
    except Err as e:
        raise _host_error(f"cannot publish {path} as {name}", e.value) from None


def fetch(reference, dest=None):
    """Fetches artifact `board.step/name` into the workspace (at `dest`, by
    default its name)."""
    dest = dest or reference.rsplit("/", 1)[-1]
    try:
        return _artifacts.get(reference, str(dest))
    except Err as e:
        raise _host_error(f"cannot fetch {reference}", e.value) from None


def artifacts():
    """The artifacts this step published so far."""
    try:
        return _artifacts.list()
    except Err as e:
        raise _host_error("cannot list artifacts", e.value) from None


# --- Processes -------------------------------------------------------------------------


class Output:
    """What a finished process did: `code` (None when killed or timed out),
    `signal`, `timed_out`, `stdout`/`stderr` bytes and `.text()`."""

    def __init__(self, out):
        status = out.status
        self.code = status.value if isinstance(status, _process.ExitStatus_Exited) else None
        self.signal = status.value if isinstance(status, _process.ExitStatus_Signaled) else None
        self.timed_out = isinstance(status, _process.ExitStatus_TimedOut)
        self.stdout = out.stdout
        self.stderr = out.stderr
        self.truncated = out.stdout_truncated or out.stderr_truncated

    @property
    def ok(self):
        return self.code == 0

    def text(self, stream="stdout"):
        return getattr(self, stream).decode("utf-8", "replace")

    def describe(self):
        if self.code is not None:
            return f"exited with code {self.code}"
        if self.signal is not None:
            return f"was killed by signal {self.signal}"
        return "timed out"


def _command(program, args, env, cwd, timeout_ms, stdin):
    if isinstance(stdin, str):
        stdin = stdin.encode("utf-8")
    return _process.Command(
        str(program), [str(a) for a in args], list((env or {}).items()),
        None if cwd is None else str(cwd), timeout_ms, stdin,
    )


def run(program, *args, env=None, cwd=None, timeout_ms=None, stdin=None, check=False):
    """Runs a program (it must be on the step's `spawn` allow-list) and
    returns its Output; `check=True` raises Fail when it does not exit 0."""
    try:
        out = Output(_process.run(_command(program, args, env, cwd, timeout_ms, stdin)))
    except Err as e:
        raise _host_error(f"cannot run `{program}`", e.value) from None
    if check and not out.ok:
        tail = " / ".join(out.text("stderr").strip().splitlines()[-3:])
        raise Fail(f"`{program}` {out.describe()}{': ' + tail if tail else ''}")
    return out


class Child:
    """A running process: `read()` a chunk (stream, bytes) or None, `wait()`, `kill()`."""

    def __init__(self, program, child):
        self.program = program
        self._child = child
        self.pid = child.pid()

    def read(self):
        chunk = self._child.read()
        if chunk is None:
            return None
        return ("stdout" if chunk.stream == _process.OutputStream.STDOUT else "stderr", chunk.data)

    def wait(self):
        try:
            return Output(self._child.wait())
        except Err as e:
            raise _host_error(f"cannot wait for `{self.program}`", e.value) from None

    def kill(self):
        self._child.kill()


def spawn(program, *args, env=None, cwd=None, timeout_ms=None, stdin=None):
    """Starts a program and returns a Child to read from and wait for."""
    try:
        return Child(program, _process.spawn(_command(program, args, env, cwd, timeout_ms, stdin)))
    except Err as e:
        raise _host_error(f"cannot spawn `{program}`", e.value) from None


# --- The stage -------------------------------------------------------------------------


def stage(name, version, description, config=None):
    """Makes `fn(config, info)` the stage of the module it is defined in.

    `config` is a dataclass (or taken from the function's first parameter's
    annotation); its fields are the keys of `with`. The module gets the
    `Plugin` class componentize-py looks for.
    """

    def wrap(fn):
        config_type = config or _config_annotation(fn)
        schema_text = _schema.schema_json(config_type) if config_type else None

        class Plugin(exports.Plugin):
            def describe(self):
                return _types.StageMeta(name, version, description, schema_text)

            def run(self, info):
                _run_stage(fn, config_type, info)

        fn.__globals__["Plugin"] = Plugin
        fn.Plugin = Plugin
        return fn

    return wrap


def _config_annotation(fn):
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = getattr(fn, "__annotations__", {})
    params = fn.__code__.co_varnames[: fn.__code__.co_argcount]
    first = hints.get(params[0]) if params else None
    return first if first is not None and dataclasses.is_dataclass(first) else None


def _run_stage(fn, config_type, info):
    os.chdir(info.workspace)
    try:
        config = _schema.parse(config_type, info.config) if config_type else _schema.parse_any(info.config)
        fn(config, info)
    except ConfigError as e:
        raise Err(_types.StageError_InvalidConfig(str(e))) from None
    except Fail as e:
        raise Err(_types.StageError_Failed(str(e))) from None
    except SystemExit as e:
        # WASI preview 2 can only exit with success or failure (the runtime
        # would report any code as 1): keep the stage's code in the headline.
        if e.code is None or e.code == 0:
            return
        if isinstance(e.code, int):
            raise Err(_types.StageError_Failed(f"stage exited with code {e.code} (SystemExit)")) from None
        raise Err(_types.StageError_Failed(str(e.code))) from None
    except Exception as e:
        # The whole traceback goes to the log; the headline names the
        # exception and the stage's line.
        traceback.print_exc(file=sys.stderr)
        raise Err(_types.StageError_Failed(escaped_headline(e))) from None
