"""Run the earthzoo CLI as if some distributions were not installed:
``python without.py torch,matplotlib -- train ...``. Importing a blocked module
(or any submodule) raises ModuleNotFoundError, exactly as in an environment that
lacks it, so an accidental import shows up as a failure. The real single-framework
environments are built from wheels by .ci/install_matrix.sh."""

from __future__ import annotations

import importlib.abc
import sys


class Blocked(importlib.abc.MetaPathFinder):
    def __init__(self, names: set[str]):
        self.names = names

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


if __name__ == "__main__":
    blocked, sep, *argv = sys.argv[1:]
    assert sep == "--", "usage: without.py MOD[,MOD...] -- EARTHZOO-ARGS"
    sys.meta_path.insert(0, Blocked(set(blocked.split(","))))
    from earthzoo.cli import main

    code = main(argv)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in blocked.split(","))
    if leaked:
        print(f"imported although blocked: {leaked}", file=sys.stderr)
        code = code or 3
    sys.exit(code)
