"""User-facing errors: one line that names the problem and the fix."""


class EarthzooError(Exception):
    """An error the user can fix; the CLI prints it as one line, without a traceback."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} - {fix}" if fix else problem)


class PluginUnavailable(EarthzooError):
    """Raised by a plugin module on import when what it needs is missing here (an
    optional engine's library): ``earthzoo plugins`` lists it as unavailable, with
    this message, instead of failed; it is not loaded, and strict mode does not stop."""


def missing_dependency(module: str, pip_name: str | None = None, purpose: str = "") -> EarthzooError:
    """The error for an optional import that failed, naming the exact install that fixes it."""
    what = f" (needed {purpose})" if purpose else ""
    return EarthzooError(f"cannot import {module}{what}", f"install it: pip install {pip_name or module}")
