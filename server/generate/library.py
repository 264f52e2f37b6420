"""The user's own sound-effects library as a generator: the best-named file for the prompt.

Editors trust their libraries more than any synthesis, so this backend only chooses, trims
and fits recorded files. The index is cached as JSON and refreshed incrementally, because
libraries hold tens of thousands of files on slow shared drives.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from sonicvision import files
from sonicvision.errors import ConfigError, RenderError

from ..audio import is_sustained, resample
from ..vocabulary import tokenize
from .base import Generator, RenderedSound, SoundRequest

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES = frozenset({".wav", ".wave", ".bwf", ".aif", ".aiff", ".aifc", ".flac"})
INDEX_NAME = ".sonicvision-index.json"
INDEX_VERSION = 1
ONSET_DB = -30.0  # the attack is where the envelope first reaches this, relative to the peak
PRE_ROLL_S = 0.005
MAX_ONE_SHOT_S = 6.0
FADE_OUT_S = 0.05
LOOP_CROSSFADE_S = 0.1
EDGE_FADE_S = 0.05
MAX_PEAK = 0.9
METADATA_FIELDS = ("title", "comment", "album", "genre", "artist")

# UCS category codes (the CatID's upper-case prefix) and common abbreviations in file names.
_ABBREVIATIONS = dict(
    pair.split(":")
    for pair in """aero:aircraft amb:ambience anml:animal blt:bullet brth:breath cerm:ceramic
    chem:chemical clth:cloth comm:radio comp:computer conc:concrete crea:creature crwd:crowd
    dest:destruction drwr:drawer dsgn:designed elec:electric equip:equipment expl:explosion
    feet:footstep fght:fight firwrk:firework foly:foley glas:glass grvl:gravel hmn:human
    hvy:heavy impt:impact impct:impact lasr:laser leth:leather liq:liquid mach:machine
    magc:magic mech:mechanical metl:metal motr:motor musc:musical natdis:disaster obj:object
    papr:paper plas:plastic rbbr:rubber robo:robot sprt:sport swsh:swoosh tran:train
    veh:vehicle vox:voice watr:water weap:weapon whsh:whoosh whstl:whistle wthr:weather
    wd:wood sml:small lrg:large med:medium""".split()
)


@dataclass
class IndexStats:
    """What one refresh did: files probed, cache entries reused and dropped, unreadable ones."""

    read: int = 0
    reused: int = 0
    dropped: int = 0
    unreadable: int = 0


def describe_name(relpath: str) -> str:
    """Words from a library path: folders plus the file name, UCS-aware.

    ``Doors/DOORWood_Slam Heavy Close_SV_01.wav`` -> "doors door wood slam heavy close sv".
    """
    parts = relpath.replace("\\", "/").split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    words: list[str] = []
    for folder in parts[:-1]:
        words += _split_words(folder)
    fields = stem.split("_")
    cat = re.fullmatch(r"([A-Z]{2,})([A-Z][a-z][A-Za-z]*)?", fields[0])
    if cat and len(fields) > 1:  # a UCS CatID: category code plus sub-category
        words.append(cat.group(1).lower())
        fields = [cat.group(2) or "", *fields[1:]]
    for item in fields:
        words += _split_words(item)
    expanded = [_ABBREVIATIONS.get(w, w) for w in words]
    return " ".join(w for w in expanded if w)


def _split_words(text: str) -> list[str]:
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)  # camelCase
    return [w.lower() for w in re.findall(r"[A-Za-z]+", text)]


def _probe(path: Path, relpath: str) -> dict:
    """Read one file's header and tags (the only place the index touches file contents)."""
    with sf.SoundFile(str(path)) as f:
        meta = f.copy_metadata()
        info = {"samplerate": int(f.samplerate), "frames": int(f.frames), "channels": f.channels}
    tags = " ".join(str(meta[k]) for k in METADATA_FIELDS if meta.get(k))
    return {**info, "text": f"{describe_name(relpath)} {tags}".strip()}


def default_index_path(root: Path, cache_dir: Path | None = None) -> Path:
    """``<root>/.sonicvision-index.json`` when the library is writable, else a cache folder;
    a ``cache_dir`` given (the server's data folder) always wins: nothing written into roots."""
    if cache_dir is None and os.access(root, os.W_OK):
        return root / INDEX_NAME
    base = cache_dir
    if base is None:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sonicvision"
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    return base / f"library-index-{digest}.json"


class LibraryGenerator(Generator):
    """Chooses a file from a folder of sound effects by matching its name and tags.

    Ties between equally good files rotate with the seed, so repeated events use different
    takes. ``min_score`` (0-1, the share of the prompt's weighted words a file must cover)
    lets the pipeline prefer synthesis over a weak match.
    """

    name = "library"

    def __init__(
        self, root: Path, cache_dir: Path | None = None, *, min_score: float = 0.0
    ) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise ConfigError("The sound library folder does not exist.", path=self.root)
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        self.index_path = default_index_path(self.root, self.cache_dir)
        self.min_score = float(min_score)
        self._entries: dict[str, dict] = {}
        self._tokens: dict[str, frozenset[str]] = {}
        self._df: Counter[str] = Counter()
        self.stats = self.refresh()
        if not self._tokens:
            raise ConfigError(
                "The sound library folder holds no readable WAV, AIFF or FLAC files.",
                path=self.root,
            )

    # ---- index -----------------------------------------------------------------------------

    def refresh(self) -> IndexStats:
        """Re-index: probe new and changed files, drop deleted ones, reuse the rest."""
        cached = self._load_index()
        stats = IndexStats()
        entries: dict[str, dict] = {}
        for path in self._audio_files():
            rel = path.relative_to(self.root).as_posix()
            try:
                st = path.stat()
            except OSError as exc:
                logger.warning("Skipping library file %s: %s", path, exc)
                continue
            old = cached.get(rel)
            if old and old.get("size") == st.st_size and old.get("mtime_ns") == st.st_mtime_ns:
                entries[rel] = old
                stats.reused += 1
                stats.unreadable += bool(old.get("error"))
                continue
            stats.read += 1
            entry: dict = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
            try:
                entry.update(_probe(path, rel))
            except (sf.SoundFileError, RuntimeError, OSError, ValueError) as exc:
                logger.warning("Skipping unreadable library file %s: %s", path, exc)
                entry["error"] = str(exc)
                stats.unreadable += 1
            entries[rel] = entry
        stats.dropped = len(cached.keys() - entries.keys())
        if (entries or cached) and (stats.read or stats.dropped or not self.index_path.exists()):
            self._save_index(entries)
        self._entries = entries
        self._tokens = {
            rel: frozenset(tokenize(e["text"])) for rel, e in entries.items() if not e.get("error")
        }
        self._df = Counter(t for toks in self._tokens.values() for t in toks)
        logger.info(
            "Library %s: %d files (%d read, %d reused, %d dropped, %d unreadable).",
            self.root,
            len(self._tokens),
            stats.read,
            stats.reused,
            stats.dropped,
            stats.unreadable,
        )
        return stats

    def _audio_files(self) -> list[Path]:
        """Sound files under the root; a symlink that leads out of it is not the library's."""
        found: list[Path] = []
        real_root = self.root.resolve()
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_SUFFIXES:
                    if path.resolve().is_relative_to(real_root):
                        found.append(path)
        return found

    def _load_index(self) -> dict[str, dict]:
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning("Rebuilding the library index %s: %s", self.index_path, exc)
            return {}
        if not isinstance(data, dict) or data.get("version") != INDEX_VERSION:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def _save_index(self, entries: dict[str, dict]) -> None:
        data = {"version": INDEX_VERSION, "root": str(self.root), "entries": entries}
        try:
            files.write_json(self.index_path, data, indent=0, sort_keys=True)
        except OSError as exc:  # the index still works from memory
            logger.warning("Could not write the library index %s: %s", self.index_path, exc)

    # ---- matching --------------------------------------------------------------------------

    def search(self, text: str) -> list[tuple[str, float]]:
        """Files with any word of ``text``, best first: (relative path, score in 0-1).

        A word weighs more the fewer files carry it (idf), so "slam" outranks "door".
        """
        words = list(dict.fromkeys(tokenize(text)))
        n = len(self._tokens)
        idf = {w: math.log(1.0 + n / (1.0 + self._df.get(w, 0))) for w in words}
        total = sum(idf.values())
        if not total:
            return []
        scored = []
        for rel, toks in self._tokens.items():
            hit = sum(idf[w] for w in words if w in toks)
            if hit > 0:
                scored.append((rel, round(hit / total, 9)))
        scored.sort(key=lambda item: (-item[1], item[0]))
        return scored

    def choose(self, text: str, seed: int) -> tuple[str, float, int]:
        """The file for a request: the seed rotates among the equally best files."""
        ranked = self.search(text)
        if not ranked or ranked[0][1] <= self.min_score:
            raise RenderError(
                f"No sound in the library {str(self.root)!r} matches {text!r}.", path=self.root
            )
        best = ranked[0][1]
        top = [rel for rel, score in ranked if score == best]
        return top[int(seed) % len(top)], best, len(top)

    # ---- rendering -------------------------------------------------------------------------

    def render(self, request: SoundRequest) -> RenderedSound:
        # 1. Choose the file
        rel, score, ties = self.choose(request.text, request.seed)
        path = self.root / rel
        sr_out = int(request.sample_rate)
        if request.continuous and not request.one_shot and not request.duration_s > 0:
            raise RenderError(
                f"Cannot loop {rel!r} to {request.duration_s} s.", path=path, field="duration_s"
            )

        # 2. Read it as float32 stereo (enough of it: libraries hold hour-long ambiences)
        entry = self._entries[rel]
        sr_in = int(entry["samplerate"])
        limit_s = (request.duration_s if request.continuous else 0.0) + MAX_ONE_SHOT_S + 30.0
        try:
            data, sr_in = sf.read(
                str(path), frames=int(limit_s * sr_in), dtype="float32", always_2d=True
            )
        except (sf.SoundFileError, RuntimeError, OSError, ValueError) as exc:
            raise RenderError(f"Could not read library file {rel!r}: {exc}", path=path) from exc
        audio = _stereo(data)
        if not len(audio):
            raise RenderError(f"Library file {rel!r} holds no audio.", path=path)

        # 3. Find the file's own attack and trim the silence before it
        onset = find_onset(audio)
        start = max(0, onset - int(round(PRE_ROLL_S * sr_in)))
        audio = audio[start:]
        continuous = request.continuous
        if request.one_shot:  # an instant: a recorded event plays whole, a texture fills the span
            continuous = request.duration_s > 0 and is_sustained(audio[onset - start :], sr_in)
        if not continuous and len(audio) > MAX_ONE_SHOT_S * sr_in:
            audio = audio[: int(MAX_ONE_SHOT_S * sr_in)]
            _fade_out(audio, int(FADE_OUT_S * sr_in))

        # 4. Resample to the request's rate
        audio = resample(audio, sr_in, sr_out)

        # 5. Fit the length: natural for one-shots, exact (looped or trimmed) when continuous
        if continuous:
            n = int(round(request.duration_s * sr_out))
            audio = loop_to_length(audio, n, int(LOOP_CROSSFADE_S * sr_out))
            edge = min(int(EDGE_FADE_S * sr_out), n // 4)
            _fade_in(audio, edge)
            _fade_out(audio, edge)
            onset_s = 0.0
        else:
            onset_s = (onset - start) / sr_in

        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak > MAX_PEAK:
            audio *= MAX_PEAK / peak
        return RenderedSound(
            audio=np.ascontiguousarray(audio, dtype=np.float32),
            sample_rate=sr_out,
            onset_s=onset_s,
            source=rel,
            matched=True,
            used=rel,
            metadata={
                "file": rel,
                "score": score,
                "candidates": ties,
                "file_onset_s": onset / sr_in,
                "file_sample_rate": sr_in,
                "matched": True,
                "continuous": continuous,
            },
        )


# ---- audio helpers -----------------------------------------------------------------------


def _stereo(data: np.ndarray) -> np.ndarray:
    """(frames, channels) -> (frames, 2): mono doubled, multichannel keeps its first pair."""
    if data.shape[1] == 1:
        return np.repeat(data, 2, axis=1)
    return np.array(data[:, :2], dtype=np.float32)


def find_onset(audio: np.ndarray, threshold_db: float = ONSET_DB) -> int:
    """First sample whose level reaches ``threshold_db`` relative to the file's peak."""
    level = np.max(np.abs(audio), axis=1) if audio.ndim == 2 else np.abs(audio)
    peak = float(level.max()) if level.size else 0.0
    if peak <= 0:
        return 0
    return int(np.argmax(level >= peak * 10.0 ** (threshold_db / 20.0)))


def loop_to_length(audio: np.ndarray, n: int, crossfade: int) -> np.ndarray:
    """Exactly ``n`` frames: trimmed, or repeated with equal-power crossfades at the seams."""
    if len(audio) >= n:
        return np.array(audio[:n], dtype=np.float32)
    length = len(audio)
    xf = max(0, min(crossfade, length // 4))
    step = length - xf
    out = np.zeros((n + length, audio.shape[1]), dtype=np.float32)
    t = np.linspace(0.0, np.pi / 2, xf)[:, None] if xf else None
    pos = 0
    while pos < n:
        piece = np.array(audio, dtype=np.float32)
        if xf:
            if pos:
                piece[:xf] *= np.sin(t)
            piece[-xf:] *= np.cos(t)
        out[pos : pos + length] += piece
        pos += step
    return out[:n]


def _fade_in(audio: np.ndarray, length: int) -> None:
    length = min(length, len(audio))
    if length > 0:
        audio[:length] *= np.sin(np.linspace(0.0, np.pi / 2, length))[:, None] ** 2


def _fade_out(audio: np.ndarray, length: int) -> None:
    length = min(length, len(audio))
    if length > 0:
        audio[len(audio) - length :] *= np.cos(np.linspace(0.0, np.pi / 2, length))[:, None] ** 2
