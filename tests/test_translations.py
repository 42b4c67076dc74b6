"""The Simplified Chinese README and operator guide keep in step with the English ones
(issue 14, item 9).

Each heading of a Chinese file carries the English heading it translates, in an HTML
comment on the same line: ``## 快速开始 <!-- en: Quick start -->``. For every pair of
files, the Chinese file's sequence of (level, English heading) is the English file's
heading sequence, and section by section: the fenced code blocks are as many, a block
marked for a test (``<!-- quickstart -->``, ``<!-- run -->``, ``<!-- file: … -->`` on the
line before its fence) is byte-identical with its marker, every other block is the same
once the comments after ``#`` (which may be translated) are left out, and tables have as
many rows. Every relative link of a Chinese file resolves, and each file of a pair links
to the other.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: (English file, its Simplified Chinese translation), relative to the repository root.
PAIRS = [
    ("README.md", "README.zh-CN.md"),
    ("docs/operator-guide.md", "docs/zh-CN/operator-guide.md"),
]

MARKER = re.compile(r"^<!-- (quickstart|run|file: \S.*) -->$")
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<text>.*?)[ \t]*#*[ \t]*$")
EN_COMMENT = re.compile(r"^(?P<text>.*?)[ \t]*<!-- en: (?P<en>.+?) -->$")
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\((?P<target><[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"(`+)(?:.+?)\1", re.S)
SHELL_COMMENT = re.compile(r"(?:^|\s)#.*$")


@dataclass
class Block:
    """A fenced code block: the marker line before it (if any) and its lines, fences
    included."""

    marker: str | None
    lines: list[str]

    def text(self) -> str:
        return "\n".join(([self.marker] if self.marker else []) + self.lines)

    def without_comments(self) -> list[str]:
        fences = self.lines[0], self.lines[-1]
        body = [SHELL_COMMENT.sub("", line).rstrip() for line in self.lines[1:-1]]
        return [fences[0], *body, fences[1]]


@dataclass
class Section:
    """The text under one heading, up to the next heading of any level."""

    level: int
    title: str  # as written in the file
    en: str | None  # the English heading: the title itself in an English file
    blocks: list[Block] = field(default_factory=list)
    table_rows: int = 0
    prose: list[str] = field(default_factory=list)  # every line but headings and code

    @property
    def key(self) -> tuple[int, str | None]:
        return (self.level, self.en)

    def label(self) -> str:
        return f"{'#' * self.level} {self.en}"


def parse(text: str, *, translated: bool) -> list[Section]:
    """The sections of a Markdown file; the lines before its first heading are a
    section of level 0. In a translated file, a heading's English counterpart is the
    text of its ``<!-- en: … -->`` comment (None when it has none)."""
    sections = [Section(0, "", "")]
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        opening = FENCE.match(line)
        if opening and not (opening["fence"][0] == "`" and "`" in opening["info"]):
            fence = opening["fence"]
            closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
            end = i + 1
            while end < len(lines) and not closing.match(lines[end]):
                end += 1
            previous = lines[i - 1] if i > 0 else ""
            marker = previous if MARKER.match(previous) else None
            sections[-1].blocks.append(Block(marker, lines[i : end + 1]))
            i = end + 1
            continue
        heading = HEADING.match(line)
        if heading:
            title = heading["text"]
            en: str | None = title
            if translated:
                comment = EN_COMMENT.match(title)
                en = comment["en"] if comment else None
            sections.append(Section(len(heading["hashes"]), title, en))
        else:
            if line.lstrip().startswith("|"):
                sections[-1].table_rows += 1
            sections[-1].prose.append(line)
        i += 1
    return sections


def compare(english: str, chinese: str, en_name: str, zh_name: str) -> list[str]:
    """Every way ``chinese`` is out of step with ``english``, one plain sentence each."""
    en_sections = parse(english, translated=False)
    zh_sections = parse(chinese, translated=True)
    problems = [
        f"{zh_name}: heading {s.title!r} has no '<!-- en: … -->' comment naming the "
        f"English heading it translates"
        for s in zh_sections
        if s.level and s.en is None
    ]
    matcher = difflib.SequenceMatcher(
        a=[s.key for s in en_sections], b=[s.key for s in zh_sections], autojunk=False
    )
    pairs: list[tuple[Section, Section]] = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            pairs.extend(zip(en_sections[a0:a1], zh_sections[b0:b1], strict=True))
            continue
        after = f"after '{en_sections[a0 - 1].label()}'" if a0 > 1 else "at the top"
        for s in en_sections[a0:a1]:
            problems.append(
                f"{zh_name} lacks section '{s.label()}' of {en_name} ({after}): translate it there"
            )
        for s in zh_sections[b0:b1]:
            if s.en is not None:
                problems.append(
                    f"{zh_name} has section '{s.label()}' ({s.title!r}, {after}) that "
                    f"{en_name} does not have at that place"
                )
    for en_s, zh_s in pairs:
        where = f"section '{en_s.label()}'" if en_s.level else "the text before the first heading"
        if len(en_s.blocks) != len(zh_s.blocks):
            problems.append(
                f"{zh_name}, {where}: {len(zh_s.blocks)} code blocks, {en_name} has "
                f"{len(en_s.blocks)}"
            )
        for n, (en_b, zh_b) in enumerate(zip(en_s.blocks, zh_s.blocks, strict=False), start=1):
            if en_b.marker or zh_b.marker:
                if en_b.text() != zh_b.text():
                    problems.append(
                        f"{zh_name}, {where}, code block {n}: a marked test block "
                        f"({en_b.marker or zh_b.marker}) must be byte-identical to "
                        f"{en_name}'s"
                    )
            elif en_b.without_comments() != zh_b.without_comments():
                problems.append(
                    f"{zh_name}, {where}, code block {n}: differs from {en_name}'s "
                    f"(only comments after '#' may be translated)"
                )
        if en_s.table_rows != zh_s.table_rows:
            problems.append(
                f"{zh_name}, {where}: {zh_s.table_rows} table rows, {en_name} has {en_s.table_rows}"
            )
    return problems


def github_slug(title: str) -> str:
    """The anchor GitHub gives a heading (HTML comments and markup dropped)."""
    text = re.sub(r"<!--.*?-->", "", title).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def broken_links(path: Path) -> list[str]:
    """The relative links of a Markdown file that lead nowhere: a missing file, or an
    anchor that is no heading of its Markdown file."""
    text = path.read_text(encoding="utf-8")
    sections = parse(text, translated=True)
    prose = INLINE_CODE.sub("", "\n".join(line for s in sections for line in s.prose))
    prose += "\n" + "\n".join(s.title for s in sections)
    broken = []
    for match in LINK.finditer(prose):
        target = match["target"].strip("<>")
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target} (no file {os.path.relpath(linked, ROOT)})")
        elif anchor and linked.suffix == ".md":
            slugs = {github_slug(s.title) for s in parse(linked.read_text(), translated=False)}
            if anchor not in slugs:
                broken.append(f"{target} (no heading with the anchor #{anchor})")
    return broken


@pytest.mark.parametrize(("english", "chinese"), PAIRS, ids=[zh for _, zh in PAIRS])
def test_the_translation_keeps_every_section_code_block_and_table(
    english: str, chinese: str
) -> None:
    problems = compare(
        (ROOT / english).read_text(encoding="utf-8"),
        (ROOT / chinese).read_text(encoding="utf-8"),
        english,
        chinese,
    )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("english", "chinese"), PAIRS, ids=[zh for _, zh in PAIRS])
def test_every_relative_link_of_the_translation_resolves(english: str, chinese: str) -> None:
    broken = broken_links(ROOT / chinese)
    assert not broken, f"{chinese} links to what does not exist: " + "; ".join(broken)


@pytest.mark.parametrize(("english", "chinese"), PAIRS, ids=[zh for _, zh in PAIRS])
def test_each_language_links_to_the_other(english: str, chinese: str) -> None:
    for source, other in ((english, chinese), (chinese, english)):
        text = (ROOT / source).read_text(encoding="utf-8")
        targets = {
            (ROOT / source).parent.joinpath(m["target"].split("#")[0]).resolve()
            for m in LINK.finditer(text)
        }
        assert (ROOT / other).resolve() in targets, f"{source} does not link to {other}"


ENGLISH = """# Guide

Intro.

## Install

<!-- run -->
```sh
make demo   # builds
```

| a | b |
|---|---|
| 1 | 2 |
"""

CHINESE = """# 指南 <!-- en: Guide -->

简介。

## 安装 <!-- en: Install -->

<!-- run -->
```sh
make demo   # builds
```

| a | b |
|---|---|
| 1 | 2 |
"""


def test_the_check_passes_a_faithful_translation() -> None:
    assert compare(ENGLISH, CHINESE, "en.md", "zh.md") == []


def test_a_section_added_to_the_english_file_only_is_named() -> None:
    english = ENGLISH.replace("## Install", "## Metrics\n\nCounters.\n\n## Install")
    problems = compare(english, CHINESE, "en.md", "zh.md")
    assert problems == [
        "zh.md lacks section '## Metrics' of en.md (after '# Guide'): translate it there"
    ]


def test_a_section_only_in_the_translation_and_a_heading_without_its_english_are_named() -> None:
    chinese = CHINESE + "\n### 附录 <!-- en: Appendix -->\n\n## 无注释\n"
    problems = compare(ENGLISH, chinese, "en.md", "zh.md")
    assert "zh.md: heading '无注释' has no '<!-- en: … -->' comment" in problems[0]
    assert any("zh.md has section '### Appendix'" in p for p in problems), problems


def test_code_blocks_and_tables_are_kept() -> None:
    changed = CHINESE.replace("make demo   # builds", "make demo   # 构建")
    assert compare(ENGLISH, changed, "en.md", "zh.md") == [
        "zh.md, section '## Install', code block 1: a marked test block (<!-- run -->) "
        "must be byte-identical to en.md's"
    ]
    unmarked_en = ENGLISH.replace("<!-- run -->\n", "")
    unmarked_zh = changed.replace("<!-- run -->\n", "")
    assert compare(unmarked_en, unmarked_zh, "en.md", "zh.md") == []
    edited = unmarked_zh.replace("make demo", "make test")
    assert "code block 1: differs" in compare(unmarked_en, edited, "en.md", "zh.md")[0]
    fewer = CHINESE.replace("| 1 | 2 |\n", "")
    assert compare(ENGLISH, fewer, "en.md", "zh.md") == [
        "zh.md, section '## Install': 2 table rows, en.md has 3"
    ]


def test_a_fence_like_line_of_inline_code_opens_no_block() -> None:
    text = "# T\n\n```` ```sh ```` blocks\n\n## U\n"
    assert [s.en for s in parse(text, translated=False)] == ["", "T", "U"]
    assert all(not s.blocks for s in parse(text, translated=False))
