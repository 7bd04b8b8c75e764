"""A document as data (OPS-4 fault brief, SVC-2 half-year log, later the monthly brief): the
producer builds a `Document`, `reports.render` turns it into DOCX or PDF. Keeping the content
separate from the format lets tests check the content once and both renderers share it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass
class Paragraph:
    text: str
    style: str = "body"  # body | note | strong


@dataclass
class KeyValues:
    """A two-column table of label → value (the facts of a fault, a cover's details)."""
    rows: list[tuple[str, str]]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    widths: list[float] | None = None  # relative column widths; None: equal
    repeat_header: bool = True


@dataclass
class Signatures:
    """A signatures block: one line per role (编制人, 审核人, 项目经理 …) with name and date."""
    roles: list[str]
    names: dict[str, str] = field(default_factory=dict)


@dataclass
class PageBreak:
    pass


Block = Paragraph | KeyValues | Table | Signatures | PageBreak


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 1  # 1 chapter, 2 sub-section; both appear in the contents
    new_page: bool = False


@dataclass
class Document:
    title: str
    sections: list[Section] = field(default_factory=list)
    subtitle: str = ""
    organisation: str = "长宁区城市运行管理中心"
    issued_on: date | None = None
    cover: bool = False  # a cover page with title, subtitle, organisation and date
    contents: bool = False  # a table of contents after the cover
    header: str = ""  # running header text on every page but the cover
    footer_page_numbers: bool = True  # 第 N 页 / 共 M 页
    cover_rows: list[tuple[str, str]] = field(default_factory=list)  # extra cover facts (编号, 密级 …)
    preamble: list[Block] = field(default_factory=list)  # blocks under the title, before section 1
