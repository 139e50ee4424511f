"""The `lines` stage with baton_sdk: every file of the project matching
`include` is read; a JSON report of over-long lines is published; the step
fails naming each `file:line`.

    with = { include = ["**/*.py"], max = 80 }
"""

import json
from dataclasses import dataclass, field

from baton_sdk import Fail, progress, publish, src, stage, workspace


@dataclass
class Config:
    include: list[str] = field(default_factory=lambda: ["**/*"], metadata={"doc": "glob patterns under /src"})
    max: int = field(default=80, metadata={"doc": "longest line allowed", "minimum": 1})
    report: str = field(default="lines.json", metadata={"doc": "artifact name of the JSON report"})


@stage(name="lines", version="0.1.0", description="fails on lines longer than `max`")
def run(config: Config, info):
    files = sorted({path for pattern in config.include for path in src.glob(pattern)})
    long = []
    for i, path in enumerate(files):
        progress(i, len(files), path)
        for number, line in enumerate(src.read_text(path).splitlines(), 1):
            if len(line) > config.max:
                long.append({"file": path, "line": number, "length": len(line)})
    progress(len(files), len(files), "done")
    report = {"max": config.max, "files": len(files), "long": long}
    workspace.write(config.report, json.dumps(report, indent=2, sort_keys=True) + "\n")
    publish(config.report, config.report)
    if long:
        raise Fail(f"{len(long)} line(s) over {config.max}: " + ", ".join(f"{l['file']}:{l['line']}" for l in long))
