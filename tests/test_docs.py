"""The README stays a front door and the docs stay true to the tree: every relative link and picture in README.md
and docs/*.md reaches a file, every `#anchor` into a page a heading of it (slugged as MkDocs slugs it), every
benchmark, test, script or module a page names exists, and mkdocs.yml's nav lists exactly the pages there are.
Fast and offline; CI's `mkdocs build --strict` checks the rendered site as well."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from markdown.extensions.toc import slugify  # what MkDocs' toc uses to make a heading's anchor

from tests.support import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
MAX_README_LINES = 200  # issue 23: a front door, not a manual

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)  # fenced code blocks: their brackets are not links
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")  # [text](target) and ![alt](target)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
# A file of the repository named in prose or code: a benchmark, a test, a script, a module, a browser file.
REPO_FILE = re.compile(r"\b((?:bench|tests|scripts|digitrec_core|digitrec_app|digitrec)/[\w./-]*\w\.(?:py|js))\b")


def prose(text: str) -> str:
    """`text` without its code blocks and code spans, where brackets and `#` are code, not links or headings."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def anchors(page: Path) -> set[str]:
    """The anchors MkDocs gives the headings of `page`: the heading's text as rendered (code, emphasis and link
    syntax gone), slugged by Python-Markdown's toc; a repeated slug gets `_1`, `_2`, ... as toc does."""
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").replace("*", "")
        slug, n = slugify(text, "-"), 0
        while (slug if n == 0 else f"{slug}_{n}") in found:
            n += 1
        found.add(slug if n == 0 else f"{slug}_{n}")
    return found


def links(page: Path) -> list[str]:
    """The relative link targets of `page` (web addresses left out)."""
    return [t for t in LINK.findall(prose(page.read_text(encoding="utf-8"))) if not re.match(r"[a-z][a-z+.-]*:", t)]


def test_readme_is_a_front_door():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_links_reach_a_file_and_a_heading(page: Path):
    assert links(page) or page.name != "README.md", "the README links into docs/"
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.is_file():
            broken.append(f"{target}: no file {file}")
            continue
        if page.parent == DOCS and not file.is_relative_to(DOCS):  # MkDocs serves docs/ alone
            broken.append(f"{target}: outside docs/, where the site cannot link")
        if anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: {file.name} has no heading with the anchor #{anchor}")
    assert not broken, f"{page.name}:\n" + "\n".join(broken)


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_named_files_exist(page: Path):
    """`python bench/live.py`, `tests/test_live_parity.py`, `digitrec_core/learning/negatives.py`: a page that names a
    file of the tree (commands included) names one that is there, so a move or a rename shows here."""
    named = set(REPO_FILE.findall(page.read_text(encoding="utf-8")))
    missing = sorted(n for n in named if not (ROOT / n).is_file())
    assert not missing, f"{page.name} names files that do not exist: {missing}"


def test_every_benchmark_command_names_a_benchmark():
    commands = {m for p in [README, *PAGES] for m in re.findall(r"python (bench/[\w/]+\.py)", p.read_text("utf-8"))}
    assert commands, "the figures name the benchmarks behind them"
    assert not sorted(c for c in commands if not (ROOT / c).is_file())


def test_the_nav_lists_every_page_and_only_pages():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def files(nav) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, dict):
            return [f for v in nav.values() for f in files(v)]
        return [f for item in nav for f in files(item)]

    nav = files(config["nav"])
    assert sorted(nav) == sorted(p.name for p in PAGES), "mkdocs.yml's nav and docs/*.md differ"
    assert config["docs_dir"] == "docs" and config["strict"] is True


def test_anchors_are_slugged_as_mkdocs_slugs_them(tmp_path: Path):
    """The anchor rule the link test relies on, on headings like the docs' own."""
    page = tmp_path / "page.md"
    page.write_text("# Why this answer?\n\n## Drawing: the model runs in your browser\n\n### `digitrec sweep`, "
                    "**fast**\n\n```\n# not a heading\n```\n\n## Notes\n\n## Notes\n", encoding="utf-8")
    assert anchors(page) == {"why-this-answer", "drawing-the-model-runs-in-your-browser", "digitrec-sweep-fast",
                             "notes", "notes_1"}
