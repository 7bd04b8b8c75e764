"""Voice prompts (CALL-1, CALL-2): G.711 codecs, resampling, espeak-ng rendering, the prompt cache."""

from __future__ import annotations

import io
import shutil
import struct
import wave

import numpy as np
import pytest

from cityops.callout import g711, voice
from cityops.core.errors import Invalid
from tests.conftest import IN_CI

GREETING = "您好，这里是长宁区城运中心"


def _pcm(samples) -> bytes:
    return np.clip(np.rint(samples), -32768, 32767).astype("<i2").tobytes()


def _ints(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.int64)


@pytest.fixture
def espeak():
    if shutil.which(voice.ESPEAK) is None:
        if IN_CI:
            pytest.fail("espeak-ng is required in CI (apt-get install espeak-ng)")
        pytest.skip("espeak-ng is not installed (outside CI)")


# --- G.711 -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "ulaw", "alaw"), [
    (0, 0xFF, 0xD5), (32767, 0x80, 0xAA), (-32768, 0x00, 0x2A), (-1, 0x7F, 0x55),
])
def test_g711_known_code_points(value, ulaw, alaw):
    assert g711.encode_ulaw(_pcm([value])) == bytes([ulaw])
    assert g711.encode_alaw(_pcm([value])) == bytes([alaw])


def test_g711_decode_known_values():
    # ITU-T G.711 tables: μ-law 0x80 is +32124, 0xFF is 0; A-law 0xD5 is +8, 0xAA is +32256.
    assert _ints(g711.decode_ulaw(bytes([0x80, 0xFF, 0x00]))).tolist() == [32124, 0, -32124]
    assert _ints(g711.decode_alaw(bytes([0xD5, 0xAA, 0x2A]))).tolist() == [8, 32256, -32256]


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_g711_every_code_decodes_and_reencodes_to_itself(codec):
    codes = bytes(range(256))
    pcm = g711.DECODERS[codec](codes)
    again = g711.ENCODERS[codec](pcm)
    if codec == "PCMU":  # 0x7F and 0xFF are both zero (negative and positive); zero encodes as 0xFF
        assert again == codes.replace(b"\x7f", b"\xff")
    else:
        assert again == codes


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_g711_clipping_is_saturating_and_monotonic(codec):
    ramp = np.arange(-32768, 32768, 7)
    decoded = _ints(g711.DECODERS[codec](g711.ENCODERS[codec](_pcm(ramp))))
    assert np.all(np.diff(decoded) >= 0)  # companding keeps order: no wrap-around near full scale
    top = _ints(g711.DECODERS[codec](g711.ENCODERS[codec](_pcm([32767]))))[0]
    bottom = _ints(g711.DECODERS[codec](g711.ENCODERS[codec](_pcm([-32768]))))[0]
    assert top == decoded.max() and bottom == decoded.min()
    assert top > 32000 and bottom < -32000


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_g711_snr_of_speech_like_signal(codec):
    rng = np.random.default_rng(6)
    n = 16000
    # Non-periodic: filtered noise with a slowly varying envelope, peaks around -6 dBFS.
    noise = np.convolve(rng.standard_normal(n), np.hanning(9), mode="same")
    envelope = 0.3 + 0.7 * np.abs(np.sin(np.linspace(0, 7.3, n)))
    signal = noise / np.abs(noise).max() * envelope * 16000
    pcm = _pcm(signal)
    back = _ints(g711.DECODERS[codec](g711.ENCODERS[codec](pcm)))
    ref = _ints(pcm)
    snr = 10 * np.log10(np.sum(ref.astype(float) ** 2) / np.sum((ref - back).astype(float) ** 2))
    assert snr >= 30, snr


# --- resampling ---------------------------------------------------------------------------------

def _level_at(x: np.ndarray, rate: int, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    near = np.abs(freqs - freq) <= 30
    return float(spectrum[near].max()) if near.any() else 0.0


def test_resample_keeps_1khz_and_removes_5khz():
    src = 22050
    t = np.arange(src) / src  # one second
    x = 10000 * np.sin(2 * np.pi * 1000 * t) + 10000 * np.sin(2 * np.pi * 5000 * t)
    y = voice.resample(x, src, 8000)
    assert len(y) == 8000
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    freqs = np.fft.rfftfreq(len(y), 1 / 8000)
    assert abs(freqs[spectrum.argmax()] - 1000) <= 2  # the tone stays at 1 kHz
    one_k = _level_at(y, 8000, 1000)
    # A 5 kHz tone above the new Nyquist would fold to 3 kHz if merely decimated.
    assert _level_at(y, 8000, 3000) < one_k * 10 ** (-60 / 20)
    # The 1 kHz tone keeps its amplitude (~10000).
    assert 9500 < np.abs(y[200:-200]).max() < 10500


def test_resample_naive_dropping_would_alias():
    # The check above means something: naive sample dropping leaves a strong 3 kHz alias.
    src = 24000
    t = np.arange(src) / src
    x = np.sin(2 * np.pi * 5000 * t)
    assert _level_at(x[::3], 8000, 3000) > 100
    assert _level_at(voice.resample(x, src, 8000), 8000, 3000) < 2  # >= 60 dB down


def test_resample_up_and_same_rate():
    t = np.arange(8000) / 8000
    x = 8000 * np.sin(2 * np.pi * 440 * t)
    y = voice.resample(x, 8000, 16000)
    assert len(y) == 16000
    freqs = np.fft.rfftfreq(len(y), 1 / 16000)
    assert abs(freqs[np.abs(np.fft.rfft(y * np.hanning(len(y)))).argmax()] - 440) <= 2
    assert np.array_equal(voice.resample(x, 8000, 8000), x)


# --- WAV ------------------------------------------------------------------------------------------

def _streamed_wav(samples, rate=22050) -> bytes:
    """A WAV as espeak-ng writes it to stdout: placeholder sizes (0x7ffff000-ish) in the headers."""
    pcm = _pcm(samples)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", 0x7FFFF024) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", 0x7FFFF000) + pcm)


def test_parse_wav_tolerates_streaming_header_and_to_wav_round_trips():
    samples = np.arange(-500, 500) * 30
    rate, parsed = voice.parse_wav(_streamed_wav(samples))
    assert rate == 22050 and parsed.tolist() == samples.tolist()
    wav = voice.to_wav(_pcm(samples), 8000)
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert _ints(w.readframes(w.getnframes())).tolist() == samples.tolist()


def test_parse_wav_rejects_garbage():
    with pytest.raises(voice.VoiceUnavailable):
        voice.parse_wav(b"not a wav at all")


# --- espeak-ng rendering --------------------------------------------------------------------------

def test_render_greeting_is_plausible_8khz_speech(espeak):
    pcm = voice.render(GREETING)
    x = _ints(pcm).astype(float)
    seconds = len(x) / voice.SAMPLE_RATE
    assert 1.5 < seconds < 12, seconds  # 13 syllables at ~150 wpm
    assert np.sqrt(np.mean(x ** 2)) > 500  # not silence
    assert np.abs(x).max() < 32767  # and not clipped flat
    # Voiced speech: most energy between a male F0 (~100 Hz) and 3.4 kHz; the low-pass leaves
    # almost nothing next to the new Nyquist.
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / voice.SAMPLE_RATE)
    assert spectrum[(freqs > 80) & (freqs < 3400)].sum() > 0.9 * spectrum.sum()
    assert spectrum[freqs > 3800].sum() < 1e-4 * spectrum.sum()


def test_rate_changes_length(espeak):
    slow = len(voice.render(GREETING, rate=100))
    fast = len(voice.render(GREETING, rate=300))
    assert slow > 1.8 * fast


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_prompt_is_g711_of_the_rendering_and_wav_export_plays(espeak, tmp_path, codec):
    data = voice.prompt(GREETING, codec, tmp_path)
    pcm = voice.render(GREETING)
    assert len(data) == len(pcm) // 2  # one byte per 8 kHz sample
    assert data == g711.ENCODERS[codec](pcm)
    with wave.open(io.BytesIO(voice.to_wav(voice.decode(data, codec)))) as w:
        assert w.getframerate() == 8000 and w.getnframes() == len(data)


def test_unknown_voice_is_a_clear_error(espeak):
    with pytest.raises(voice.VoiceUnavailable, match="voice does not exist"):
        voice.render(GREETING, voice="zzz")


# --- cache -----------------------------------------------------------------------------------------

@pytest.fixture
def counted_tts(monkeypatch):
    """espeak-ng replaced by a 1 kHz tone of 50 ms per character, counting its runs."""
    calls = []

    def fake(text, voice_name, rate):
        calls.append((text, voice_name, rate))
        t = np.arange(int(22050 * 0.05 * len(text))) / 22050
        return _streamed_wav(8000 * np.sin(2 * np.pi * 1000 * t))

    monkeypatch.setattr(voice, "_espeak", fake)
    return calls


def test_cache_hits_the_second_time(counted_tts, tmp_path):
    first = voice.prompt("请按1", "PCMA", tmp_path)
    second = voice.prompt("请按1", "PCMA", tmp_path)
    assert first == second and len(first) > 0
    assert len(counted_tts) == 1
    files = sorted(p.name for p in (tmp_path / "prompts").iterdir())
    assert files == [voice.cache_path("请按1", "PCMA", tmp_path).name]  # no temp files left
    assert files[0].endswith(".pcma")


def test_cache_key_covers_text_voice_rate_codec(counted_tts, tmp_path):
    voice.prompt("请按1", "PCMA", tmp_path)
    voice.prompt("请按1", "PCMU", tmp_path)
    voice.prompt("请按2", "PCMA", tmp_path)
    voice.prompt("请按1", "PCMA", tmp_path, rate=120)
    voice.prompt("请按1", "PCMA", tmp_path, voice="cmn-latn-pinyin")
    assert len(counted_tts) == 5
    assert len(list((tmp_path / "prompts").iterdir())) == 5
    voice.prompt("请按1", "PCMU", tmp_path)
    assert len(counted_tts) == 5


def test_cache_failed_render_writes_nothing(monkeypatch, tmp_path):
    def broken(text, voice_name, rate):
        raise voice.VoiceUnavailable("boom")

    monkeypatch.setattr(voice, "_espeak", broken)
    with pytest.raises(voice.VoiceUnavailable):
        voice.prompt("请按1", "PCMU", tmp_path)
    assert not (tmp_path / "prompts").exists() or not any((tmp_path / "prompts").iterdir())


# --- errors ------------------------------------------------------------------------------------------

def test_missing_espeak_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(voice, "ESPEAK", "espeak-ng-not-installed-here")
    with pytest.raises(voice.VoiceUnavailable, match="未安装.*apt-get install espeak-ng") as err:
        voice.prompt(GREETING, "PCMU", tmp_path)
    assert err.value.status == 503


@pytest.mark.parametrize(("text", "codec", "kwargs"), [
    ("   ", "PCMU", {}),
    ("你好", "G729", {}),
    ("你好", "PCMU", {"rate": 20}),
    ("你好", "PCMU", {"voice": "cmn; rm -rf /"}),
    ("好" * 2001, "PCMU", {}),
])
def test_bad_input_is_invalid(tmp_path, text, codec, kwargs):
    with pytest.raises(Invalid):
        voice.prompt(text, codec, tmp_path, **kwargs)
