"""Answer recognition (CALL-1, CALL-2): keyword matching with synonyms and negation, and the
optional Vosk adapter (key presses stay the always-available path)."""

from __future__ import annotations

import builtins
import json
import sys
import types

import numpy as np
import pytest

from cityops.callout import asr

SATISFACTION = ["满意", "不满意"]
YES_NO = ["是", "不是"]


@pytest.fixture
def matcher():
    return asr.KeywordMatcher()


@pytest.mark.parametrize(("text", "expected"), [
    ("满意", "满意"),
    ("非常满意", "满意"),
    ("很满意，谢谢", "满意"),
    ("嗯 挺 满意 的", "满意"),  # recognisers put spaces between words
    ("不满意", "不满意"),
    ("不太满意", "不满意"),
    ("非常不满意！", "不满意"),
    ("我不是很满意", "不满意"),
    ("不怎么满意", "不满意"),
    ("没有很满意", "不满意"),
    ("不错，满意", "满意"),  # 不 in 不错 is not a negation of 满意
    ("是的，满意", "满意"),  # a 是 outside this grammar does not get in the way
    ("今天天气不错", None),
    ("", None),
])
def test_satisfaction(matcher, text, expected):
    assert matcher.match(text, SATISFACTION) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("是", "是"), ("是的", "是"), ("对", "是"), ("对的对的", "是"), ("没错", "是"),
    ("不是", "不是"), ("不对", "不是"), ("不是的", "不是"),
    ("是不是", None),  # both answers: ask again
    ("嗯", None),
])
def test_yes_no(matcher, text, expected):
    assert matcher.match(text, YES_NO) == expected


def test_negation_never_matches_the_positive_answer(matcher):
    # Only 满意 is expected: 不满意 must not count as 满意 (it is a no-match, not a yes).
    for text in ("不满意", "很不满意", "不太满意", "不很满意", "没满意"):
        assert matcher.match(text, ["满意"]) is None, text
    assert matcher.match("不是", ["是"]) is None
    assert matcher.match("不对", ["是"]) is None
    assert matcher.match("非常满意", ["满意"]) == "满意"


def test_answers_outside_the_table_match_literally_and_extra_synonyms(matcher):
    assert matcher.match("我要转人工", ["转人工", "结束"]) == "转人工"
    custom = asr.KeywordMatcher({"转人工": ["人工服务", "找客服"], "满意": ["蛮好"]})
    assert custom.match("帮我找客服", ["转人工", "结束"]) == "转人工"
    assert custom.match("蛮好", SATISFACTION) == "满意"
    assert custom.match("不太满意", SATISFACTION) == "不满意"  # defaults are kept


def test_grammar_forms_for_a_recogniser(matcher):
    forms = matcher.forms(SATISFACTION)
    assert forms[0] == "满意" and "非常满意" in forms and "不太满意" in forms
    assert len(forms) == len(set(forms))
    assert "是" not in forms


# --- recogniser adapters --------------------------------------------------------------------------

def test_no_model_configured_means_key_presses_only():
    assert asr.recognizer_from(None) is None
    assert asr.recognizer_from("") is None
    assert asr.recognizer_from("  ") is None


def test_missing_model_directory_is_a_clear_error(tmp_path):
    missing = tmp_path / "vosk-model-small-cn"
    with pytest.raises(asr.RecognizerUnavailable, match="不存在") as err:
        asr.recognizer_from(str(missing))
    assert str(missing) in err.value.detail
    assert err.value.status == 503


def test_vosk_not_installed_is_a_clear_error(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_vosk(name, *args, **kwargs):
        if name == "vosk":
            raise ImportError("No module named 'vosk'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "vosk", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_vosk)
    with pytest.raises(asr.RecognizerUnavailable, match="未安装 vosk 软件包"):
        asr.recognizer_from(str(tmp_path))


class _FakeVosk(types.ModuleType):
    """Stands in for the vosk package: records what the adapter feeds it."""

    def __init__(self, text: str, conf: float):
        super().__init__("vosk")
        self.fed: list[tuple[int, list[str], bytes]] = []
        outer = self

        class Model:
            def __init__(self, path):
                self.path = path

        class KaldiRecognizer:
            def __init__(self, model, rate, grammar):
                self.rate, self.grammar, self.audio = rate, json.loads(grammar), b""

            def SetWords(self, on):
                pass

            def AcceptWaveform(self, data):
                self.audio += data
                return True

            def FinalResult(self):
                outer.fed.append((self.rate, self.grammar, self.audio))
                words = [{"word": w, "conf": conf} for w in text.split()]
                return json.dumps({"text": text, "result": words}, ensure_ascii=False)

        self.Model = Model
        self.KaldiRecognizer = KaldiRecognizer
        self.SetLogLevel = lambda level: None


def test_vosk_adapter_feeds_16khz_with_the_grammar_and_matches(tmp_path, monkeypatch):
    fake = _FakeVosk("不 太 满意", 0.8)
    monkeypatch.setitem(sys.modules, "vosk", fake)
    rec = asr.recognizer_from(str(tmp_path))
    assert isinstance(rec, asr.VoskRecognizer)
    pcm = (3000 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)).astype("<i2").tobytes()
    result = rec.recognize(pcm, SATISFACTION)
    assert result == asr.Recognition("不 太 满意", pytest.approx(0.8), "不满意")
    rate, grammar, audio = fake.fed[0]
    assert rate == 16000 and len(audio) == 2 * len(pcm)  # 8 kHz up-sampled to 16 kHz
    assert "不太满意" in grammar and grammar[-1] == "[unk]"


def test_vosk_adapter_unknown_speech_has_no_match(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vosk", _FakeVosk("[unk]", 0.3))
    result = asr.recognizer_from(str(tmp_path)).recognize(b"\x00\x00" * 800, YES_NO)
    assert result == asr.Recognition("", 0.0, None)
