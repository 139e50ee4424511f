"""baton stage `junit`: reads JUnit XML test reports and fails the step,
naming the failing tests, when any test failed or errored.

    [[boards.linux.steps]]
    name = "test"
    plugin = "junit"
    with = { command = ["make", "check"], reports = ["build/test-results/*.xml"], summary = "tests.md" }

Keys of `with`:
- `reports`: glob patterns (relative to the workspace, `**` allowed) of the
  XML reports to read.
- `fetch`: artifact references (`board.step/name`) fetched into the
  workspace under their names and read as reports too.
- `command`: a program and its arguments run first (it must be on the
  step's `spawn` allow-list). It usually exits non-zero when tests fail;
  the verdict comes from the reports.
- `summary`: a Markdown summary written to this path and published as an
  artifact named after the file.
- `max_listed`: how many failing tests the error names (default 5).
- `allow_empty`: pass when the reports hold no test case (default false).

Everything is imported at the top: componentize-py bundles only the
modules imported while it builds the component.
"""

import glob
import json
import os

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import artifacts, log, process, types

import junit_report

VERSION = "0.1.0"
KEYS = ("reports", "fetch", "command", "summary", "max_listed", "allow_empty")
SCHEMA = json.dumps({
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "reports": {"type": "array", "items": {"type": "string"}},
        "fetch": {"type": "array", "items": {"type": "string"}},
        "command": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "summary": {"type": "string"},
        "max_listed": {"type": "integer", "minimum": 1},
        "allow_empty": {"type": "boolean"},
    },
})


class StageFailure(Exception):
    """Fails the step with `failed(message)`."""


class ConfigError(Exception):
    """Fails the step with `invalid-config(message)`."""


class Plugin(exports.Plugin):
    def describe(self):
        return types.StageMeta(
            "junit", VERSION,
            "reads JUnit XML reports; fails the step naming the failing tests",
            SCHEMA,
        )

    def run(self, info):
        # wasi-libc starts in `/`: make relative paths mean the workspace.
        os.chdir(info.workspace)
        try:
            run(parse_config(info.config))
        except ConfigError as e:
            raise Err(types.StageError_InvalidConfig(str(e)))
        except StageFailure as e:
            raise Err(types.StageError_Failed(str(e)))


def parse_config(text):
    config = json.loads(text or "{}")
    for key in config:
        if key not in KEYS:
            raise ConfigError(f"unknown key `{key}` (expected one of: {', '.join(KEYS)})")
    for key in ("reports", "fetch", "command"):
        value = config.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"`{key}` must be a list of strings")
    if not config.get("reports") and not config.get("fetch"):
        raise ConfigError("no reports: set `reports` (glob patterns) or `fetch` (artifact references)")
    for pattern in config.get("reports", []):
        if pattern.startswith("/") or ".." in pattern.split("/"):
            raise ConfigError(f"`reports`: `{pattern}` must be relative to the workspace, without `..`")
    if "command" in config and not config["command"]:
        raise ConfigError("`command` must name a program")
    if not isinstance(config.get("summary", ""), str):
        raise ConfigError("`summary` must be a path (a string)")
    listed = config.get("max_listed", 5)
    if not isinstance(listed, int) or isinstance(listed, bool) or listed < 1:
        raise ConfigError("`max_listed` must be a positive integer")
    if not isinstance(config.get("allow_empty", False), bool):
        raise ConfigError("`allow_empty` must be true or false")
    return config


def run(config):
    fetched = [fetch(ref) for ref in config.get("fetch", [])]
    command = config.get("command")
    exit_note = run_command(command) if command else ""
    paths = sorted(set(fetched + matches(config.get("reports", []))))
    if not paths:
        patterns = ", ".join(config.get("reports", []))
        raise StageFailure(f"no JUnit report matches {patterns} in the workspace{exit_note}")
    results = read_reports(paths)
    log.log(types.Level.INFO, f"{junit_report.headline(results)} in {len(paths)} report(s)")
    if config.get("summary"):
        publish_summary(config["summary"], results)
    if not results.cases and not config.get("allow_empty", False):
        raise StageFailure(f"the reports hold no test case ({', '.join(paths)}); set allow_empty = true to accept that")
    if results.broken:
        for case in results.broken:
            log.log(types.Level.ERROR, f"{case.outcome}: {case.name}: {case.message}")
        raise StageFailure(junit_report.failure_message(results, config.get("max_listed", 5)))


def fetch(reference):
    name = reference.rsplit("/", 1)[-1]
    try:
        artifacts.get(reference, name)
    except Err as e:
        raise StageFailure(f"cannot fetch {reference}: {describe_error(e.value)}")
    log.log(types.Level.INFO, f"fetched {reference} into {name}")
    return name


def matches(patterns):
    found = []
    for pattern in patterns:
        hits = [p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)]
        if not hits:
            log.log(types.Level.WARN, f"no file matches `{pattern}`")
        found += hits
    return found


def run_command(argv):
    """Runs the test command; returns a note on its exit for later messages."""
    cmd = process.Command(argv[0], argv[1:], [], None, None, None)
    log.log(types.Level.INFO, f"running {' '.join(argv)}")
    try:
        out = process.run(cmd)
    except Err as e:
        raise StageFailure(f"cannot run `{argv[0]}`: {describe_error(e.value)}")
    status = out.status
    if isinstance(status, process.ExitStatus_Exited) and status.value == 0:
        return ""
    how = describe_status(status)
    tail = out.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
    log.log(types.Level.INFO, f"`{argv[0]}` {how}; reading the reports for the verdict")
    return f" (`{argv[0]}` {how}{': ' + ' / '.join(tail) if tail else ''})"


def read_reports(paths):
    results = junit_report.Results(reports=paths)
    for i, path in enumerate(paths):
        log.progress(i, len(paths), f"reading {path}")
        try:
            with open(path, "rb") as f:
                cases = junit_report.parse(path, f.read())
        except OSError as e:
            raise StageFailure(f"cannot read {path}: {e.strerror or e}")
        except junit_report.ReportError as e:
            raise StageFailure(str(e))
        results.cases += cases
    log.progress(len(paths), len(paths), "reports read")
    return results


def publish_summary(path, results):
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(junit_report.markdown(results))
    name = os.path.basename(path)
    try:
        a = artifacts.put(name, path)
    except Err as e:
        raise StageFailure(f"cannot publish {path}: {describe_error(e.value)}")
    log.log(types.Level.INFO, f"published {a.reference} ({a.size} bytes)")


def describe_status(status):
    if isinstance(status, process.ExitStatus_Exited):
        return f"exited with code {status.value}"
    if isinstance(status, process.ExitStatus_Signaled):
        return f"was killed by signal {status.value}"
    return f"timed out after {status.value} ms"


# How the host's error variants read (the wording of the Rust SDK).
ERROR_WORDS = {
    "ArtifactError_InvalidName": "invalid artifact name",
    "ArtifactError_InvalidPath": "invalid path",
    "ArtifactError_NotFound": "artifact not found",
    "ArtifactError_NeverPublished": "artifact never published",
    "ArtifactError_Denied": "denied",
    "ArtifactError_Corrupt": "corrupt artifact",
    "ArtifactError_Limit": "limit",
    "ArtifactError_Io": "artifact i/o error",
    "ProcessError_Denied": "denied",
    "ProcessError_NotFound": "not found",
    "ProcessError_InvalidCwd": "invalid cwd",
    "ProcessError_Limit": "limit",
}


def describe_error(error):
    """`artifact not found: ...`: what the variant means, and its message."""
    words = ERROR_WORDS.get(type(error).__name__)
    return f"{words}: {error.value}" if words else error.value
