"""Reading JUnit XML reports and summarising them. Pure Python: no host
calls, so it is unit-tested with the machine's own python3
(`python3 -m unittest` in this folder)."""

from dataclasses import dataclass, field
import xml.etree.ElementTree as ET

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"


class ReportError(Exception):
    """A report that cannot be read; the message names the file."""


@dataclass
class Case:
    name: str
    outcome: str
    message: str = ""
    seconds: float = 0.0


@dataclass
class Results:
    cases: list = field(default_factory=list)
    reports: list = field(default_factory=list)

    def count(self, outcome):
        return sum(1 for c in self.cases if c.outcome == outcome)

    @property
    def broken(self):
        return [c for c in self.cases if c.outcome in (FAILED, ERROR)]

    @property
    def seconds(self):
        return sum(c.seconds for c in self.cases)


def parse(path, text):
    """The test cases of one report (`<testsuites>` or `<testsuite>` root)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise ReportError(f"{path}: not valid XML: {e}") from None
    if _local(root.tag) not in ("testsuites", "testsuite"):
        raise ReportError(
            f"{path}: not a JUnit report (root element is <{_local(root.tag)}>, "
            "expected <testsuites> or <testsuite>)"
        )
    return [_case(el) for el in root.iter() if _local(el.tag) == "testcase"]


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _case(el):
    classname = el.get("classname") or ""
    name = el.get("name") or "?"
    full = f"{classname}.{name}" if classname else name
    seconds = _float(el.get("time"))
    for child in el:
        kind = _local(child.tag)
        if kind in ("failure", "error", "skipped"):
            outcome = {"failure": FAILED, "error": ERROR, "skipped": SKIPPED}[kind]
            return Case(full, outcome, _message(child), seconds)
    return Case(full, PASSED, "", seconds)


def _float(text):
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


def _message(el):
    """The `message` attribute, else the first non-empty line of the text."""
    msg = (el.get("message") or "").strip()
    if not msg:
        lines = [l.strip() for l in (el.text or "").splitlines() if l.strip()]
        msg = lines[0] if lines else ""
    if el.get("type") and el.get("type") not in msg:
        msg = f"{el.get('type')}: {msg}" if msg else el.get("type")
    return msg.splitlines()[0][:200] if msg else ""


def headline(r):
    """`12 tests: 9 passed, 2 failed, 1 error` (outcomes with zero left out)."""
    parts = [f"{r.count(PASSED)} passed"]
    for outcome, word in ((FAILED, "failed"), (ERROR, "error"), (SKIPPED, "skipped")):
        n = r.count(outcome)
        if n:
            parts.append(f"{n} {word}" if outcome != ERROR else f"{n} {'error' if n == 1 else 'errors'}")
    total = len(r.cases)
    return f"{total} {'test' if total == 1 else 'tests'}: {', '.join(parts)}"


def failure_message(r, max_listed):
    """The step's error: how many broke and which (the first `max_listed`)."""
    broken = r.broken
    named = []
    for c in broken[:max_listed]:
        named.append(f"{c.name} ({c.outcome}{': ' + c.message if c.message else ''})")
    more = len(broken) - len(named)
    tail = f"; and {more} more" if more > 0 else ""
    return f"{len(broken)} of {len(r.cases)} tests failed: {'; '.join(named)}{tail}"


def markdown(r):
    """A Markdown summary: the headline, then a table of what did not pass."""
    lines = [f"# Test results", "", f"{headline(r)} ({r.seconds:.2f} s) in {len(r.reports)} report(s)", ""]
    notable = [c for c in r.cases if c.outcome != PASSED]
    if notable:
        lines += ["| result | test | message |", "| --- | --- | --- |"]
        for c in notable:
            msg = c.message.replace("|", "\\|")
            lines.append(f"| {c.outcome} | `{c.name}` | {msg} |")
        lines.append("")
    return "\n".join(lines)
