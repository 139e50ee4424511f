"""The exceptions a stage raises or meets, and the headline of one that
escapes `run`: its type, message and the stage's own file:line (the frame
nearest the raise that is neither the standard library nor this package)."""

import os
import traceback


class Fail(Exception):
    """Fails the step with this message (the stage's work failed)."""


class ConfigError(Exception):
    """Fails the step as `invalid config` (the step's `with` is wrong)."""


class HostError(Exception):
    """A host call (artifact, process) was refused or failed. `str(e)` says
    what was attempted and the host's message; `kind` is the host's variant
    (`not found`, `denied`, …) and `message` its text."""

    def __init__(self, text, kind="", message=""):
        super().__init__(text)
        self.kind = kind
        self.message = message


_SDK_DIR = os.path.dirname(os.path.abspath(__file__))
_STDLIB = "/python/"


def _stage_path(file):
    """componentize-py mounts each `-p` folder at `/0/`, `/1/`…: the path
    inside it is the one the author knows."""
    parts = file.lstrip("/").split("/", 1)
    if file.startswith("/") and len(parts) == 2 and parts[0].isdigit():
        return parts[1]
    return file


def _is_stage_frame(file):
    path = os.path.abspath(file)
    return not path.startswith(_STDLIB) and not path.startswith(_SDK_DIR + os.sep) and "<frozen" not in file


def escaped_headline(e):
    """`TypeError: msg (at app.py:19, in total)`."""
    kind = type(e).__name__
    module = type(e).__module__
    if module not in ("builtins", "__main__", None) and not isinstance(e, HostError):
        kind = f"{module}.{kind}"
    message = str(e)
    text = f"{kind}: {message}" if message else kind
    frames = traceback.extract_tb(e.__traceback__)
    stage_frames = [f for f in frames if _is_stage_frame(f.filename)]
    frame = stage_frames[-1] if stage_frames else (frames[-1] if frames else None)
    if frame is None:
        return text
    return f"{text} (at {_stage_path(frame.filename)}:{frame.lineno}, in {frame.name})"
