"""Stand-ins for componentize-py's bindings when baton_sdk is imported by
plain CPython (a stage's unit tests): host calls say they need the host."""


class Err(Exception):
    def __init__(self, value=None):
        super().__init__(value)
        self.value = value


class Plugin:
    pass


def __getattr__(name):
    raise RuntimeError(f"baton_sdk: `{name}` needs the baton host (this is plain Python, not a stage component)")
