"""Test fixture: a Python stage that fails as real stages do by mistake,
with an exception it does not catch.

    with = { numbers = [1, 2] }   `"sum: " + 3` raises TypeError in `total`
    with = { parse = "{" }        json.loads raises JSONDecodeError in the stdlib

The tests read the step's failure headline: it must name the exception,
its message and this file's line, not componentize-py's runtime.
"""

import json

from wit_world import exports
from wit_world.imports import log, types


def total(numbers):
    label = "sum: "
    return label + sum(numbers)


class Plugin(exports.Plugin):
    def describe(self):
        return types.StageMeta("py-raises", "0.1.0", "raises what its config asks for", None)

    def run(self, info):
        config = json.loads(info.config or "{}")
        if "parse" in config:
            json.loads(config["parse"])
        log.log(types.Level.INFO, total(config.get("numbers", [])))
