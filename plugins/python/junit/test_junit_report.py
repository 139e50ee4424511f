"""Unit tests of the report parser, run with the machine's python3:
`python3 -m unittest` in this folder (scripts/build-plugins.sh runs them)."""

import unittest

import junit_report as jr

REPORT = b"""<?xml version="1.0"?>
<testsuites>
  <testsuite name="math" tests="4">
    <testcase classname="tests.math" name="test_add" time="0.5"/>
    <testcase classname="tests.math" name="test_div" time="0.25">
      <failure message="ZeroDivisionError: division by zero">trace</failure>
    </testcase>
    <testcase classname="tests.math" name="test_io"><error type="OSError">disk gone
more</error></testcase>
    <testcase name="test_later"><skipped/></testcase>
  </testsuite>
</testsuites>"""


class ParseTest(unittest.TestCase):
    def test_outcomes_names_and_messages(self):
        cases = jr.parse("r.xml", REPORT)
        self.assertEqual([c.outcome for c in cases], ["passed", "failed", "error", "skipped"])
        self.assertEqual(cases[1].name, "tests.math.test_div")
        self.assertEqual(cases[1].message, "ZeroDivisionError: division by zero")
        self.assertEqual(cases[2].message, "OSError: disk gone")
        self.assertEqual(cases[3].name, "test_later")

    def test_a_single_testsuite_root_is_read(self):
        cases = jr.parse("r.xml", b'<testsuite><testcase name="a"/></testsuite>')
        self.assertEqual(len(cases), 1)

    def test_bad_xml_and_other_roots_name_the_file(self):
        with self.assertRaisesRegex(jr.ReportError, r"^r.xml: not valid XML: mismatched tag"):
            jr.parse("r.xml", b"<testsuite><testcase></testsuite>")
        with self.assertRaisesRegex(jr.ReportError, r"root element is <html>"):
            jr.parse("r.xml", b"<html/>")

    def test_summary_and_failure_message(self):
        r = jr.Results(cases=jr.parse("r.xml", REPORT), reports=["r.xml"])
        self.assertEqual(jr.headline(r), "4 tests: 1 passed, 1 failed, 1 error, 1 skipped")
        self.assertEqual(
            jr.failure_message(r, 1),
            "2 of 4 tests failed: tests.math.test_div (failed: ZeroDivisionError: division by zero); and 1 more",
        )
        md = jr.markdown(r)
        self.assertIn("| failed | `tests.math.test_div` | ZeroDivisionError: division by zero |", md)
        self.assertIn("(0.75 s)", md)


if __name__ == "__main__":
    unittest.main()
