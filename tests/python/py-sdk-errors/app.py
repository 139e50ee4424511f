"""Test fixture: a baton_sdk stage whose errors escape `run`, chosen by
`with = { escape = "…" }`: `host` (an invalid artifact name, refused by the
host), `type` (a TypeError in the stage's code), `exit` (SystemExit(3)),
`fail` (Fail("boom")). The tests read the headlines."""

from dataclasses import dataclass

from baton_sdk import Fail, publish, stage, workspace


@dataclass
class Config:
    escape: str


def total(numbers):
    return "sum: " + sum(numbers)


@stage(name="py-sdk-errors", version="0.1.0", description="lets an error escape run")
def run(config: Config, info):
    if config.escape == "host":
        workspace.write("out.txt", "x")
        publish("no/slash", "out.txt")
    elif config.escape == "type":
        total([1, 2])
    elif config.escape == "exit":
        raise SystemExit(3)
    elif config.escape == "fail":
        raise Fail("boom")
