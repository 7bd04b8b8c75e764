"""Voice prompts for outbound calls (CALL-1, CALL-2): text → offline TTS (`espeak-ng`, Mandarin
voice `cmn`) → 8 kHz mono 16-bit PCM → G.711 (PCMU/PCMA), cached on disk.

Nothing is downloaded at run time; espeak-ng is a Debian package (`apt-get install espeak-ng`).
The cache lives under `var_dir/prompts/`, one file per sha256(text, voice, rate, codec), written
atomically so concurrent workers never read a half-written prompt.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import tempfile
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np

from cityops.callout import g711
from cityops.core.errors import Invalid, Problem

ESPEAK = "espeak-ng"
SAMPLE_RATE = 8000
DEFAULT_VOICE = "cmn"
DEFAULT_RATE = 150  # words per minute; a little slower than espeak's 175 for the telephone
RATE_RANGE = (80, 450)  # what espeak-ng accepts
CODECS = tuple(g711.ENCODERS)  # ("PCMU", "PCMA")
MAX_TEXT = 2000
# Bump when rendering changes (filter, level) so old cached prompts are not reused.
RENDER_VERSION = 1
_TIMEOUT_S = 60

# Resampling filter: Kaiser-windowed sinc, 24 zero crossings either side at the lower rate,
# cut-off at 45 % of the lower rate (3.6 kHz for 8 kHz: the telephone band ends at 3.4 kHz).
_ZEROS = 24
_BETA = 8.0
_CUTOFF = 0.45
_BLOCK = 4096


class VoiceUnavailable(Problem):
    """The TTS engine cannot run (not installed, voice data missing, or it failed)."""

    def __init__(self, detail: str):
        super().__init__(503, "Voice prompts unavailable", detail)


def render(text: str, *, voice: str = DEFAULT_VOICE, rate: int = DEFAULT_RATE) -> bytes:
    """Speak `text` with espeak-ng; return 8 kHz mono 16-bit little-endian PCM."""
    text = _check(text, voice, rate)
    src_rate, samples = parse_wav(_espeak(text, voice, rate))
    out = resample(samples, src_rate, SAMPLE_RATE)
    return np.clip(np.rint(out), -32768, 32767).astype("<i2").tobytes()


def prompt(text: str, codec: str, var_dir: str | os.PathLike, *, voice: str = DEFAULT_VOICE,
           rate: int = DEFAULT_RATE) -> bytes:
    """The prompt as G.711 bytes (one byte per 8 kHz sample), rendered once and then cached."""
    if codec not in g711.ENCODERS:
        raise Invalid(f"codec 应为以下之一：{'、'.join(CODECS)}，而不是 {codec!r}")
    text = _check(text, voice, rate)
    path = cache_path(text, codec, var_dir, voice=voice, rate=rate)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    data = g711.ENCODERS[codec](render(text, voice=voice, rate=rate))
    _write_atomic(path, data)
    return data


def cache_path(text: str, codec: str, var_dir: str | os.PathLike, *, voice: str = DEFAULT_VOICE,
               rate: int = DEFAULT_RATE) -> Path:
    key = json.dumps([RENDER_VERSION, text, voice, rate, codec], ensure_ascii=False)
    digest = hashlib.sha256(key.encode()).hexdigest()
    return Path(var_dir) / "prompts" / f"{digest}.{codec.lower()}"


def to_wav(pcm: bytes, rate: int = SAMPLE_RATE) -> bytes:
    """A WAV file (16-bit mono PCM) for listening to a prompt in the console."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def decode(data: bytes, codec: str) -> bytes:
    """G.711 prompt bytes back to 16-bit PCM (what the callee hears), e.g. for `to_wav`."""
    if codec not in g711.DECODERS:
        raise Invalid(f"codec 应为以下之一：{'、'.join(CODECS)}，而不是 {codec!r}")
    return g711.DECODERS[codec](data)


def parse_wav(data: bytes) -> tuple[int, np.ndarray]:
    """(sample rate, mono float samples) from a 16-bit PCM WAV. Tolerates the placeholder sizes
    espeak-ng writes when streaming to stdout (the data chunk runs to the end of the bytes)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise VoiceUnavailable("espeak-ng 没有输出 WAV 音频流")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if cid == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", data, body)
        elif cid == b"data":
            if fmt is None:
                break
            tag, channels, src_rate, _, _, bits = fmt
            if tag != 1 or bits != 16:
                raise VoiceUnavailable(f"不支持的 WAV 格式（tag {tag}，{bits} 位）")
            end = min(body + size, len(data))
            end -= (end - body) % (2 * channels)
            pcm = np.frombuffer(data[body:end], dtype="<i2").astype(np.float64)
            return src_rate, pcm.reshape(-1, channels).mean(axis=1)
        pos = body + size + (size & 1)
    raise VoiceUnavailable("WAV 音频流缺少 fmt 块或 data 块")


def resample(x: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Band-limited resampling by a rational factor: a Kaiser-windowed sinc low-pass evaluated
    only at the output instants (a polyphase filter bank of `up` phases)."""
    x = np.asarray(x, dtype=np.float64)
    if src_rate == dst_rate:
        return x.copy()
    ratio = Fraction(dst_rate, src_rate)
    up, down = ratio.numerator, ratio.denominator
    low = min(src_rate, dst_rate)
    cutoff = _CUTOFF * low / src_rate  # cycles per input sample
    half = int(np.ceil(_ZEROS * src_rate / low))  # filter half-length in input samples
    taps = np.arange(-half + 1, half + 1)
    # bank[p, j]: weight of input sample base + taps[j] for an output at base + p / up.
    d = taps[None, :] - (np.arange(up) / up)[:, None]
    window = np.i0(_BETA * np.sqrt(np.clip(1 - (d / half) ** 2, 0, None))) / np.i0(_BETA)
    bank = 2 * cutoff * np.sinc(2 * cutoff * d) * window
    bank /= bank.sum(axis=1, keepdims=True)  # unity gain at DC for every phase
    n_out = len(x) * up // down
    padded = np.concatenate([np.zeros(half), x, np.zeros(half + 1)])
    out = np.empty(n_out)
    for start in range(0, n_out, _BLOCK):
        n = np.arange(start, min(start + _BLOCK, n_out))
        base, phase = np.divmod(n * down, up)
        out[n] = np.einsum("ij,ij->i", padded[base[:, None] + taps[None, :] + half], bank[phase])
    return out


def _check(text: str, voice: str, rate: int) -> str:
    text = " ".join(text.split())
    if not text:
        raise Invalid("提示语为空")
    if len(text) > MAX_TEXT:
        raise Invalid(f"提示语超过 {MAX_TEXT} 个字符")
    if not voice or not all(c.isalnum() or c in "-_+" for c in voice):
        raise Invalid(f"无效的语音名称 {voice!r}")
    if not isinstance(rate, int) or not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
        raise Invalid(f"语速 rate 应为每分钟 {RATE_RANGE[0]}..{RATE_RANGE[1]} 词")
    return text


def _espeak(text: str, voice: str, rate: int) -> bytes:
    exe = shutil.which(ESPEAK)
    if exe is None:
        raise VoiceUnavailable(f"{ESPEAK} 未安装（Debian：apt-get install espeak-ng），"
                               "无法生成语音提示")
    # Text on stdin, so text starting with "-" is never read as an option.
    try:
        done = subprocess.run([exe, "-v", voice, "-s", str(rate), "--stdout", "--stdin"],
                              input=text.encode(), capture_output=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VoiceUnavailable(f"{ESPEAK} 无法运行：{exc}") from exc
    err = done.stderr.decode(errors="replace").strip()
    if done.returncode != 0 or not done.stdout:
        raise VoiceUnavailable(f"{ESPEAK} 执行失败（退出码 {done.returncode}）：{err or '无输出'}")
    return done.stdout


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
