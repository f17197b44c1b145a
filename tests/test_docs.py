"""The docs stay inside the repository: every relative Markdown link resolves to a
path within the clone, and no doc or script points at a sibling folder outside it."""

from __future__ import annotations

import re
import subprocess

from conftest import REPO

LINK = re.compile(r"\]\(([^)\s]+)\)")


def tracked(*patterns: str) -> list[str]:
    return subprocess.run(["git", "ls-files", *patterns], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()


def test_relative_links_stay_inside_the_repository():
    outside = []
    for name in tracked("*.md"):
        for target in LINK.findall((REPO / name).read_text()):
            if re.match(r"^[a-z]+:|^#", target):
                continue
            path = ((REPO / name).parent / target.split("#")[0]).resolve()
            if not path.is_relative_to(REPO):
                outside.append(f"{name}: {target}")
    assert not outside, outside


def test_nothing_reads_a_shared_folder_beside_the_clone():
    hits = [n for n in tracked("*.md", "*.py", "*.sh", "*.toml", "*.txt", ".ci/*") if re.search(r"\.\./(\.\./)*shared/", (REPO / n).read_text(errors="replace"))]
    assert not hits, hits
