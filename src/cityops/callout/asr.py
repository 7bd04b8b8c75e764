"""Speech recognition for call answers (CALL-1, CALL-2).

Key presses are the path that always works; recognition is optional. A `Recognizer` turns 8 kHz
PCM into a `Recognition`; the `KeywordMatcher` maps recognised text (or any text answer) onto the
expected answers of a dialogue step, with synonyms (非常满意 → 满意, 对/是的 → 是) and negation
taking precedence (不满意 never matches 满意). `VoskRecognizer` loads a model from a local
directory only when one is configured; nothing is downloaded at run time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from cityops.core.errors import Problem

# Canonical answer → spoken forms. Each form is matched as a whole; the longest wins.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "满意": ("满意", "非常满意", "很满意", "挺满意", "比较满意", "十分满意", "基本满意", "满意的"),
    "不满意": ("不满意", "不太满意", "很不满意", "非常不满意", "不是很满意", "不怎么满意", "不大满意",
             "没有很满意", "不够满意"),
    "是": ("是", "是的", "对", "对的", "对啊", "没错", "好的", "可以", "确认"),
    "不是": ("不是", "不对", "不是的", "不用", "不要", "不需要", "不可以", "不行"),
}
# A positive answer right after one of these (with at most a degree adverb) flips to its pair.
NEGATED = {"满意": "不满意", "是": "不是"}
_OPPOSITE = {**NEGATED, **{v: k for k, v in NEGATED.items()}}
_NEGATION_BEFORE = re.compile(r"(?:不|没|没有)(?:太|很|怎么|大|够|算|是很|是太|是特别|特别)?$")
_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Recognition:
    text: str  # what was heard, as the recogniser wrote it
    confidence: float  # 0..1
    matched: str | None  # the expected answer it maps to, or None (ask again / fall back to keys)


class Recognizer(Protocol):
    def recognize(self, pcm_8k: bytes, grammar: list[str]) -> Recognition: ...


class RecognizerUnavailable(Problem):
    def __init__(self, detail: str):
        super().__init__(503, "Speech recognition unavailable", detail)


class KeywordMatcher:
    """Maps text to one of the expected answers (`grammar`), or None when there is none or the
    text names two different answers."""

    def __init__(self, synonyms: dict[str, tuple[str, ...] | list[str]] | None = None):
        table = {k: tuple(v) for k, v in SYNONYMS.items()}
        for answer, forms in (synonyms or {}).items():
            table[answer] = tuple(dict.fromkeys((*table.get(answer, ()), *forms)))
        self.table = table

    def forms(self, grammar: list[str]) -> list[str]:
        """Every phrase that can stand for an answer in `grammar` (for a recogniser's grammar)."""
        out: dict[str, None] = {}
        for answer in grammar:
            out.update(dict.fromkeys((answer, *self.table.get(answer, ()))))
        return list(out)

    def match(self, text: str, grammar: list[str]) -> str | None:
        said = _NOT_WORD.sub("", text or "")
        if not said or not grammar:
            return None
        phrases: dict[str, str] = {}
        for answer, forms in self.table.items():
            for form in forms:
                phrases.setdefault(_NOT_WORD.sub("", form), answer)
        for answer in grammar:  # an answer outside the table matches itself
            phrases[_NOT_WORD.sub("", answer)] = answer
        hits = []
        for phrase, answer in phrases.items():
            start = said.find(phrase)
            while phrase and start >= 0:
                hits.append((start, start + len(phrase), answer))
                start = said.find(phrase, start + 1)
        # Longest phrases first; a phrase inside a longer one (满意 in 不满意) is not a hit.
        hits.sort(key=lambda h: (h[0] - h[1], h[0]))
        taken: list[tuple[int, int, str]] = []
        for start, end, answer in hits:
            if all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, answer))
        found = set()
        for start, _, answer in taken:
            if answer in NEGATED and _NEGATION_BEFORE.search(said[:start]):
                answer = NEGATED[answer]
            if answer in grammar:
                found.add(answer)
            elif _OPPOSITE.get(answer) in grammar:
                # The opposite of an expected answer (不满意 when only 满意 is) blocks a guess.
                return None
        return found.pop() if len(found) == 1 else None


class VoskRecognizer:
    """Vosk (Kaldi) with a small grammar of expected phrases. The model directory must exist
    locally; vosk is imported only here, so the platform runs without it."""

    FEED_RATE = 16000  # Kaldi down-samples by itself but refuses to up-sample 8 kHz for 16 kHz models

    def __init__(self, model_dir: str | Path, matcher: KeywordMatcher | None = None):
        path = Path(model_dir)
        if not path.is_dir():
            raise RecognizerUnavailable(f"语音识别模型目录 {str(path)!r} 不存在")
        try:
            import vosk
        except ImportError as exc:
            raise RecognizerUnavailable("未安装 vosk 软件包（pip install vosk），"
                                        "只能按键作答") from exc
        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(str(path))
        except Exception as exc:  # vosk raises a bare Exception for a bad model
            raise RecognizerUnavailable(f"无法加载 {str(path)!r} 中的语音识别模型：{exc}") from exc
        self._vosk = vosk
        self.matcher = matcher or KeywordMatcher()

    def recognize(self, pcm_8k: bytes, grammar: list[str]) -> Recognition:
        from cityops.callout.voice import resample

        phrases = [*self.matcher.forms(grammar), "[unk]"]
        rec = self._vosk.KaldiRecognizer(self._model, self.FEED_RATE, json.dumps(phrases, ensure_ascii=False))
        rec.SetWords(True)
        x = np.frombuffer(pcm_8k[: len(pcm_8k) // 2 * 2], dtype="<i2")
        pcm = np.clip(np.rint(resample(x, 8000, self.FEED_RATE)), -32768, 32767).astype("<i2").tobytes()
        rec.AcceptWaveform(pcm)
        result = json.loads(rec.FinalResult())
        text = result.get("text", "").replace("[unk]", "").strip()
        words = [w.get("conf", 0.0) for w in result.get("result", []) if w.get("word") != "[unk]"]
        confidence = float(sum(words) / len(words)) if words else 0.0
        return Recognition(text, confidence, self.matcher.match(text, grammar))


def recognizer_from(model_dir: str | None) -> Recognizer | None:
    """The configured recogniser, or None when no model is configured (key presses only)."""
    if not model_dir or not str(model_dir).strip():
        return None
    return VoskRecognizer(model_dir)
