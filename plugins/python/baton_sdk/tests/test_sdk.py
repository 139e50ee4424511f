"""baton_sdk's pure parts in plain CPython: the schema derived from a config
dataclass, parsing `with` into it, and the headline of an escaped error."""

import json
import unittest
from dataclasses import dataclass, field
from typing import Optional

from baton_sdk import ConfigError, HostError, config_schema
from baton_sdk.errors import escaped_headline
from baton_sdk.schema import parse


@dataclass
class Config:
    include: list[str]
    max: int = field(default=100, metadata={"doc": "longest line allowed", "minimum": 1})
    report: Optional[str] = None
    strict: bool = False


class SchemaTest(unittest.TestCase):
    def test_schema_is_derived_from_the_fields(self):
        self.assertEqual(config_schema(Config), {
            "type": "object",
            "additionalProperties": False,
            "required": ["include"],
            "properties": {
                "include": {"type": "array", "items": {"type": "string"}},
                "max": {"type": "integer", "description": "longest line allowed", "minimum": 1, "default": 100},
                "report": {"type": ["string", "null"]},
                "strict": {"type": "boolean", "default": False},
            },
        })

    def test_parse_fills_defaults_and_checks_types(self):
        c = parse(Config, json.dumps({"include": ["**/*.py"], "report": "r.json"}))
        self.assertEqual((c.include, c.max, c.report, c.strict), (["**/*.py"], 100, "r.json", False))
        for text, message in [
            ('{"include": [], "maxx": 3}', "unknown key `maxx` (expected one of: include, max, report, strict)"),
            ('{}', "missing key `include`"),
            ('{"include": "a"}', "`include` must be a list, not a string"),
            ('{"include": [1]}', "`include[0]` must be a string, not an integer"),
            ('{"include": [], "max": true}', "`max` must be an integer, not a boolean"),
            ('{"include": [], "max": 0}', "`max` must be at least 1"),
        ]:
            with self.assertRaises(ConfigError) as e:
                parse(Config, text)
            self.assertEqual(str(e.exception), message)


class HeadlineTest(unittest.TestCase):
    def test_an_escaped_error_names_type_message_and_line(self):
        try:
            "sum: " + 3
        except TypeError as e:
            headline = escaped_headline(e)
        self.assertRegex(headline, r'^TypeError: can only concatenate str \(not "int"\) to str \(at .*test_sdk.py:\d+, in test_an_escaped_error_names_type_message_and_line\)$')

    def test_a_host_error_keeps_the_host_message(self):
        try:
            raise HostError("cannot publish x as bad/name: invalid name: names are [a-z0-9._-]")
        except HostError as e:
            self.assertTrue(escaped_headline(e).startswith("HostError: cannot publish x as bad/name: invalid name: "))


if __name__ == "__main__":
    unittest.main()
