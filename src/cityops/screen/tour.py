"""The guided demonstration's script (VISIT-2): the steps a presenter walks visitors through.

The steps live in `data/tour.json` (edited by whoever prepares a visit, not by code) and are
checked when loaded, so a broken file fails at start with the step and the reason instead of
on the wall in front of a delegation. Each step:

- `title`: short heading (≤ 24 characters);
- `caption`: what the presenter reads aloud — Chinese, one to three sentences;
- `url`: a page of this platform, shown in the presenter page's frame (same origin):
  `/screen`, `/screen/street/<code>`, `/screen/mode/<code>`, or a console page `/console/…`;
- `scenario` (optional): a scenario of `cityops.screen.scenario` the presenter may inject here;
- `notes` (optional): hints for the presenter only (never shown on the wall).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

TOUR_FILE = Path(__file__).resolve().parent / "data" / "tour.json"
FIELDS = {"title", "caption", "url", "scenario", "notes"}
MAX_TITLE = 24
MAX_CAPTION = 160
# Same-origin pages only: the frame must never show another site.
URL_PATTERNS = (
    re.compile(r"^/screen$"),
    re.compile(r"^/screen/street/\d{9}$"),
    re.compile(r"^/screen/mode/[A-Za-z0-9_-]{1,32}$"),
    re.compile(r"^/console(/[A-Za-z0-9_./-]*)?(\?[A-Za-z0-9_=&%.-]*)?$"),
)
_CJK = re.compile(r"[\u4e00-\u9fff]")
_SENTENCE_END = re.compile(r"[。！？!?]")


class TourError(ValueError):
    """The tour file is not usable; the message names the step and what is wrong."""


@dataclass(frozen=True)
class TourStep:
    number: int  # 1-based, as the presenter counts (and `?step=N`)
    title: str
    caption: str
    url: str
    scenario: str | None = None
    notes: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sentences(text: str) -> int:
    """Sentences of a Chinese caption: its sentence-ending marks (a last one may be missing)."""
    parts = [p for p in _SENTENCE_END.split(text) if p.strip()]
    return len(parts)


def _check_url(url: str) -> str | None:
    if not any(p.match(url) for p in URL_PATTERNS):
        return ("url 必须是本平台的页面：/screen、/screen/street/<街道代码>、/screen/mode/<模式代码> 或 /console/…"
                f"（收到 {url!r}）")
    if ".." in url or "//" in url:
        return "url 不能包含 “..” 或 “//”"
    return None


def validate(data: Any, *, scenarios: set[str] | None = None) -> list[TourStep]:
    """The steps of a parsed tour file, or TourError naming the first bad step."""
    if scenarios is None:
        from cityops.screen.scenario import SCENARIOS

        scenarios = set(SCENARIOS)
    items = data.get("steps") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise TourError("导览文件需要一个非空的 steps 列表")
    steps = []
    for n, item in enumerate(items, start=1):
        where = f"第 {n} 步"
        if not isinstance(item, dict):
            raise TourError(f"{where}：应为对象（title、caption、url …）")
        if isinstance(item.get("title"), str) and item["title"].strip():
            where += f"（{item['title'].strip()}）"
        unknown = set(item) - FIELDS
        if unknown:
            raise TourError(f"{where}：未知字段 {', '.join(sorted(unknown))}（可用：{', '.join(sorted(FIELDS))}）")
        for key in ("title", "caption", "url"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise TourError(f"{where}：缺少 {key}")
        title, caption, url = item["title"].strip(), " ".join(item["caption"].split()), item["url"].strip()
        if len(title) > MAX_TITLE:
            raise TourError(f"{where}：title 最多 {MAX_TITLE} 个字")
        if not _CJK.search(caption):
            raise TourError(f"{where}：caption 应为中文（讲解员朗读的解说词）")
        if len(caption) > MAX_CAPTION:
            raise TourError(f"{where}：caption 最多 {MAX_CAPTION} 个字（当前 {len(caption)}）")
        count = sentences(caption)
        if not 1 <= count <= 3:
            raise TourError(f"{where}：caption 应为 1–3 句话（当前 {count} 句）")
        bad = _check_url(url)
        if bad:
            raise TourError(f"{where}：{bad}")
        scenario = item.get("scenario")
        if scenario is not None and scenario not in scenarios:
            raise TourError(f"{where}：没有名为 {scenario!r} 的演示场景（可用：{', '.join(sorted(scenarios))}）")
        notes = item.get("notes", "")
        if not isinstance(notes, str):
            raise TourError(f"{where}：notes 应为文本")
        steps.append(TourStep(n, title, caption, url, scenario, notes.strip()))
    return steps


def load(path: Path | str | None = None) -> list[TourStep]:
    path = Path(path or TOUR_FILE)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TourError(f"导览文件不存在：{path}") from None
    except json.JSONDecodeError as exc:
        raise TourError(f"导览文件不是有效的 JSON：{path}：第 {exc.lineno} 行：{exc.msg}") from None
    return validate(data)


@lru_cache
def steps() -> tuple[TourStep, ...]:
    """The shipped tour, loaded and checked once per process."""
    return tuple(load())
