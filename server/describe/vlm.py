"""What sounds, from the pictures: the paper's VLM stage (sec. 3.3) behind the Describer interface.

The prompt is the paper's: four frames of the shot, evenly spaced and in order, each after a
temporal cue ("First, <img> Then, <img> After that, <img> Finally, <img>"), then an
instruction asking for the sounds a Foley artist would record. It goes through the model's
own chat template (:mod:`sonicvision.server.models.vlm`); any image-text-to-text model does.

The answer is read into at most ``max_sounds`` short concrete descriptions (source, action,
material), deduplicated. Numbered or bulleted lists, JSON arrays or objects, comma lists and
"Sound 1: ..." labels are understood; preambles, refusals, echoes of the prompt and garbage
are dropped. An answer with nothing left falls back to the embedded describer, and the event
says so (source "vlm-fallback").

Matching sounds to the shot's events (the VLM sees four frames, the detector sees every frame):
each sound and each event is sorted into impulsive (hit, step, slam...) or continuous (slide,
scrape, whoosh...); the events of one kind take that kind's sounds in the order both were
given, spread proportionally: with 6 impacts and the answer "footsteps on gravel", "door
slams", the first three get the footsteps and the last three the door. A kind the answer has
no sound for takes from all the sounds the same way.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from sonicvision.errors import ConfigError, MediaError, SonicVisionError
from sonicvision.events import Shot

from ..detect.base import EventInterval
from ..frames import probe, read_frames
from ..models.spec import apply_options, split_spec
from .base import Describer, Description
from .embedded import EmbeddedDescriber

logger = logging.getLogger(__name__)

TEMPORAL_CUES = ("First,", "Then,", "After that,", "Finally,")
N_FRAMES = len(TEMPORAL_CUES)
MAX_WORDS = 12


def instruction(max_sounds: int) -> str:
    """The task after the frames (the paper's "[Task Identifier] Instruction")."""
    return (
        "These are four frames of one film shot, in order. List the sounds a Foley artist "
        "would record to match what happens on screen, in the order they happen, at most "
        f"{max_sounds}. Write one sound per line as a short phrase naming the sound source, "
        "the action and the material, for example: glass set down on a wooden table. "
        "Leave out music, speech and background ambience."
    )


def conversation(max_sounds: int) -> list[dict]:
    """One user turn: cue, image, cue, image, ... instruction (images fed in the same order)."""
    content: list[dict] = []
    for cue in TEMPORAL_CUES:
        content += [
            {"type": "text", "text": f"{cue} "},
            {"type": "image"},
            {"type": "text", "text": " "},
        ]
    content.append({"type": "text", "text": instruction(max_sounds)})
    return [{"role": "user", "content": content}]


def sample_indices(n_frames: int, k: int = N_FRAMES) -> list[int]:
    """``k`` evenly spaced frames, in order: the centres of ``k`` equal parts of the shot."""
    if n_frames < 1:
        raise ValueError("a shot needs at least one frame")
    return [min(n_frames - 1, int((i + 0.5) * n_frames / k)) for i in range(k)]


# --- reading the answer ---------------------------------------------------------------------

_JSON_SPAN = re.compile(r"[\[{].*[\]}]", re.S)
_INLINE_ITEMS = re.compile(r"(?:^|\s)(?:\(?\d{1,2}[.)]|sound\s*\d+\s*:)\s+", re.I)
_SENTENCE_END = re.compile(r"(?<=[a-z\)\]*\"'][.!?])\s+", re.I)
_BULLET = re.compile(r"^\s*(?:[-*•·–—>+]+|\(?\d{1,2}[.):]|\(?[a-h][.)](?=\s))\s*")
_LABEL = re.compile(
    r"^(?:sounds?|sound effects?|sfx|foley|answer|output|event)\s*\d*\s*[:=\-]\s*", re.I
)
_FIELDS = re.compile(r"\b(?:source|action|material|object|surface|sound)\s*:\s*", re.I)
_TIMESTAMP = re.compile(r"(?:\b(?:at|from|around)\s+)?\b\d{1,2}:\d{2}(?:[.:]\d+)?\b", re.I)
_LEAD = re.compile(
    r"^(?:(?:the |a )?sounds? of |(?:i|we|you) (?:can )?hear |there (?:is|are) |"
    r"(?:first|then|next|after that|finally|and)\b,? ?)+",
    re.I,
)
_REJECT = re.compile(
    r"^(?:sure|certainly|okay|ok\b|here (?:are|is)|i(?:'m| am| can| cannot| can't| would| do)|"
    r"as an ai|sorry|unfortunately|none\b|no sounds?\b|n/a|silence\b|nothing\b|"
    r"(?:the|these|this) (?:image|frame|video|scene|shot)s? )",
    re.I,
)
_ECHO = ("foley artist", "frames", "sound source", "one sound per line", "in the order they")
_PREPOSITIONS = frozenset(
    "on onto against in into across over with at from of by through off under along".split()
)
_ARTICLES = frozenset({"a", "an", "the"})


def parse_sounds(text: str, max_sounds: int = 4, truncated: bool = False) -> list[str]:
    """Short sound descriptions from a VLM answer, in its order, deduplicated, at most N.

    ``truncated``: the answer hit the token limit, so its last item may be cut off mid-word
    and is dropped (unless it is the only one).
    """
    if degenerate(text):
        return []
    items = _json_items(text)
    if items is None:
        items = _line_items(text)
    if truncated and len(items) > 1:
        items = items[:-1]
    out: list[str] = []
    seen: set[str] = set()
    for raw in items:
        item = _clean(raw)
        if item is None:
            continue
        key = _key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
        if len(out) >= max_sounds:
            break
    return out


def _json_items(text: str) -> list[str] | None:
    match = _JSON_SPAN.search(text)
    if match is None:
        return None
    for candidate in (match.group(0), match.group(0).replace("'", '"')):
        try:
            items = list(_flatten(json.loads(candidate)))
        except (ValueError, TypeError):
            continue
        return items or None
    return None


def _flatten(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _flatten(v)
    elif isinstance(value, dict):
        lowered = {str(k).lower(): v for k, v in value.items()}
        for key in ("description", "sound", "text", "name", "label"):
            if isinstance(lowered.get(key), str):
                yield lowered[key]
                return
        parts = [
            lowered[k] for k in ("source", "action", "material") if isinstance(lowered.get(k), str)
        ]
        if parts:
            yield " ".join(parts)
            return
        for v in lowered.values():
            yield from _flatten(v)


def _line_items(text: str) -> list[str]:
    """Items of a plain-text answer: lines, inline numbered items, sentences, comma lists."""
    text = text.replace("\r", "\n").strip().strip("[]{}")
    items: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.endswith(":"):
            continue
        if len(_INLINE_ITEMS.findall(line)) >= 2:
            items += [p for p in _INLINE_ITEMS.split(line) if p.strip()]
            continue
        for sentence in _SENTENCE_END.split(_BULLET.sub("", line)):
            items += _comma_items(_LABEL.sub("", sentence.strip()))
    return items


def _comma_items(sentence: str) -> list[str]:
    """ "footsteps, door slam" is two sounds; "glass, set down, on a table" is one."""
    parts = [p.strip(" \"'") for p in re.split(r"[;,]", sentence)]
    parts = [p for p in parts if p]
    fragment = any(
        p.split()[0].lower() in _PREPOSITIONS | {"and", "then"} or len(p.split()) > 5 for p in parts
    )
    if len(parts) > 1 and not fragment and not _FIELDS.search(sentence):
        return parts
    return [sentence] if sentence else []


def _clean(raw: str) -> str | None:
    """One short lowercase description, or None for preambles, refusals, echoes, garbage."""
    text = _LABEL.sub("", _BULLET.sub("", raw.strip()))
    text = _FIELDS.sub(" ", _TIMESTAMP.sub(" ", text))
    text = re.sub(r"\([^)]*\d[^)]*\)", " ", text)  # "(at 0:02)", "(x2)"
    text = re.sub(r"[*_`\"“”()\[\]{}]", " ", text)
    text = re.split(r"\s[-–—]\s|[;:.!?](?:\s|$)|\s(?:while|as|which)\s", text.strip())[0]
    text = " ".join(text.split()).lower().strip(" .,'-")
    if not text or _REJECT.match(text) or any(e in text for e in _ECHO):
        return None
    text = _LEAD.sub("", text).strip()
    text = re.sub(r"\s*,\s*", " ", text)
    text = " ".join(text.split()[:MAX_WORDS])
    return text if _plausible(text) and not degenerate(text) else None


def _plausible(text: str) -> bool:
    """Mostly letters, with at least one real-looking word (garbage from a random model fails)."""
    chars = text.replace(" ", "")
    if not chars or sum(c.isascii() and c.isalpha() for c in chars) < 0.85 * len(chars):
        return False
    words = re.findall(r"[a-z]+", text)
    long = [w for w in words if len(w) >= 3]
    real = [w for w in long if re.search(r"[aeiouy]", w) and not re.search(r"(.)\1\1", w)]
    return bool(real) and len(real) >= 0.6 * len(long)


def degenerate(text: str) -> bool:
    """A looping answer (``harm agu harm agu ...``): a random or broken model, not a list.

    Either one short phrase repeated over most of the answer, or too few distinct words for
    its length. A real list repeats words ("footsteps on gravel", "footsteps on wood") but not
    whole runs of them.
    """
    words = re.findall(r"[a-z']+", text.lower())
    if len(words) < 4:
        return False
    if len(words) >= 8 and len(set(words)) <= 0.25 * len(words):
        return True
    return _looping(words)


def _looping(words: list[str]) -> bool:
    """A unit of 1-3 words, repeated back to back (at least twice, 4 words in all), covers
    60 % of the words."""
    for unit in (1, 2, 3):
        run = 0
        for i in range(unit, len(words)):
            run = run + 1 if words[i] == words[i - unit] else 0
            if run >= unit and run + unit >= max(4, 0.6 * len(words)):
                return True
    return False


def _key(text: str) -> str:
    return " ".join(w.rstrip("s") for w in re.findall(r"[a-z]+", text) if w not in _ARTICLES)


# --- matching sounds to events --------------------------------------------------------------

_IMPULSIVE_WORDS = (
    "hit", "knock", "slam", "thud", "thump", "bang", "clink", "clank", "clang", "drop", "fall",
    "fell", "crash", "smash", "tap", "click", "snap", "pop", "punch", "kick", "step", "footstep",
    "walk", "stomp", "clap", "slap", "impact", "place", "chop", "shut", "close", "break",
    "shatter", "crack", "bounce", "strike", "struck", "land", "splash", "jump", "set down",
    "put down",
)  # fmt: skip
_CONTINUOUS_WORDS = (
    "slid", "scrap", "rustl", "whoosh", "swish", "hum", "engine", "pour", "roll", "rub", "drag",
    "wind", "rain", "crackl", "sizzl", "buzz", "creak", "squeak", "hiss", "flow", "running",
    "typing", "breath", "motor", "drone", "whir", "rumbl", "pass", "sweep", "brush", "spin",
)  # fmt: skip
_IMPULSIVE_MOTIONS = frozenset({"impact", "fall", "hit", "contact", "stop"})
_CONTINUOUS_MOTIONS = frozenset({"slide", "pass-by", "pass", "continuous"})


def _hits(text: str, stems: Sequence[str]) -> int:
    words = text.split()
    return sum((s in text) if " " in s else any(w.startswith(s) for w in words) for s in stems)


def sound_kind(text: str) -> str:
    """Impulsive, continuous or "any" (no telling), from the words of a description."""
    impulsive, continuous = _hits(text, _IMPULSIVE_WORDS), _hits(text, _CONTINUOUS_WORDS)
    if impulsive == continuous:
        return "any"
    return "impulsive" if impulsive > continuous else "continuous"


def event_kind(event: EventInterval) -> str:
    if event.motion in _IMPULSIVE_MOTIONS:
        return "impulsive"
    if event.motion in _CONTINUOUS_MOTIONS:
        return "continuous"
    return "continuous" if event.continuous else "impulsive"


def assign(events: Sequence[EventInterval], sounds: Sequence[str]) -> list[int]:
    """Index into ``sounds`` for each event: by kind, then by order, spread proportionally."""
    if not sounds:
        raise ValueError("no sounds to assign")
    kinds = [event_kind(e) for e in events]
    sound_kinds = [sound_kind(s) for s in sounds]
    chosen = [0] * len(events)
    for kind in ("impulsive", "continuous"):
        members = [i for i, k in enumerate(kinds) if k == kind]
        pool = [j for j, k in enumerate(sound_kinds) if k in (kind, "any")] or list(
            range(len(sounds))
        )
        for rank, i in enumerate(members):
            chosen[i] = pool[rank * len(pool) // len(members)]
    return chosen


# --- the describer --------------------------------------------------------------------------


class Chat(Protocol):
    """What the describer needs of a model: one reply (``.text``, ``.truncated``) per chat."""

    def generate(
        self, conversations: Sequence[list[dict]], images: Sequence[Sequence[np.ndarray]]
    ) -> list: ...


@dataclass
class ShotAnswer:
    """What the VLM said about one shot, and why it was not used when it was not."""

    shot: int
    answer: str = ""
    sounds: list[str] = field(default_factory=list)
    problem: str = ""


class VLMDescriber(Describer):
    """``--describer vlm:MODEL``: four frames per shot to a VLM, its sounds onto the events."""

    name = "vlm"

    def __init__(
        self,
        chat: Chat,
        *,
        frame_size: int = 448,
        max_sounds: int = 4,
        batch_size: int = 8,
        fallback: Describer | None = None,
    ) -> None:
        if frame_size < 16 or max_sounds < 1 or batch_size < 1:
            raise ConfigError(
                f"need frame_size >= 16, max_sounds >= 1, batch_size >= 1; got {frame_size}, "
                f"{max_sounds}, {batch_size}",
                field="describer",
            )
        self.chat = chat
        self.frame_size = frame_size
        self.max_sounds = max_sounds
        self.batch_size = batch_size
        self.fallback = fallback or EmbeddedDescriber()
        self.answers: dict[tuple, ShotAnswer] = {}

    @property
    def device(self) -> str:
        return str(getattr(self.chat, "device", "cpu"))

    def prefetch(
        self, shots: Sequence[Shot], frames: Mapping[int, np.ndarray] | None = None
    ) -> None:
        """Ask about every shot now, ``batch_size`` shots per generate call."""
        todo = [s for s in shots if _shot_key(s) not in self.answers]
        for i in range(0, len(todo), self.batch_size):
            group = todo[i : i + self.batch_size]
            self._ask(group, [None if frames is None else frames.get(s.index) for s in group])

    def describe(
        self,
        shot: Shot,
        events: Sequence[EventInterval],
        event_seconds: Sequence[float],
        frames: np.ndarray | None = None,
    ) -> list[Description]:
        if not events:
            return []
        if _shot_key(shot) not in self.answers:
            self._ask([shot], [frames])
        answer = self.answers[_shot_key(shot)]
        if not answer.sounds:
            base = self.fallback.describe(shot, events, event_seconds, frames)
            return [Description(d.text, "vlm-fallback") for d in base]
        picks = assign(events, answer.sounds)
        return [Description(answer.sounds[j], "vlm") for j in picks]

    def shot_images(self, shot: Shot, frames: np.ndarray | None = None) -> list[np.ndarray]:
        """The four frames the VLM sees, RGB, longest edge at most ``frame_size``."""
        if frames is not None and len(frames):
            picked = [frames[i] for i in sample_indices(len(frames))]
        else:
            picked = self._read(shot)
        return [_fit(cv2.cvtColor(f, cv2.COLOR_BGR2RGB), self.frame_size) for f in picked]

    def _read(self, shot: Shot) -> list[np.ndarray]:
        if shot.media_path is None:
            raise MediaError("The shot has no media to look at.", clip=shot.clip_name)
        info = probe(shot.media_path)
        long_edge = max(info.width, info.height)
        width = max(2, round(info.width * min(1.0, self.frame_size / long_edge)))
        count = max(1, shot.frame_count) if not info.is_still else 1
        return [
            read_frames(shot.media_path, shot.first_frame + i, 1, width, info=info)[0]
            for i in sample_indices(count)
        ]

    def _ask(self, shots: Sequence[Shot], frames: Sequence[np.ndarray | None]) -> None:
        asked: list[tuple[Shot, list[np.ndarray]]] = []
        for shot, pictures in zip(shots, frames, strict=True):
            try:
                asked.append((shot, self.shot_images(shot, pictures)))
            except SonicVisionError as exc:
                self._record(ShotAnswer(shot.index, problem=f"no pictures: {exc}"), shot)
        if not asked:
            return
        chats = [conversation(self.max_sounds)] * len(asked)
        replies = self.chat.generate(chats, [images for _, images in asked])
        for (shot, _), reply in zip(asked, replies, strict=True):
            sounds = parse_sounds(reply.text, self.max_sounds, truncated=reply.truncated)
            problem = "" if sounds else "no usable sound description in the answer"
            self._record(ShotAnswer(shot.index, reply.text, sounds, problem), shot)

    def _record(self, answer: ShotAnswer, shot: Shot) -> None:
        self.answers[_shot_key(shot)] = answer
        if answer.problem:
            logger.warning(
                "shot %d: %s (answer %r); the embedded describer names its events",
                shot.index,
                answer.problem,
                answer.answer[:120],
            )
        else:
            logger.debug("shot %d: %r -> %s", shot.index, answer.answer[:200], answer.sounds)


def _shot_key(shot: Shot) -> tuple:
    return (shot.index, str(shot.media_path), shot.first_frame, shot.frame_count)


def _fit(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = size / max(h, w)
    if scale >= 1.0:
        return np.ascontiguousarray(image)
    return cv2.resize(
        image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )


@dataclass(frozen=True)
class VLMOptions:
    """What ``--describer vlm:MODEL,key=value,...`` may set."""

    frame_size: int = 448
    max_sounds: int = 4
    batch_size: int = 8
    max_new_tokens: int = 96
    do_sample: bool = False
    device: str | None = None
    dtype: str | None = None


def build_vlm_describer(arg: str | None) -> VLMDescriber:
    """The registry factory: ``vlm:Qwen/Qwen2.5-VL-3B-Instruct`` or ``vlm:/models/smolvlm``."""
    if not arg:
        raise ConfigError(
            "the vlm describer needs a model: --describer vlm:Qwen/Qwen2.5-VL-3B-Instruct "
            "(an id in the local Hugging Face cache) or vlm:/path/to/model",
            field="describer",
        )
    source, raw = split_spec(arg, "describer")
    options = apply_options(VLMOptions(), raw, "describer")
    try:
        from ..models.vlm import LocalVLM
    except ImportError as exc:
        raise ConfigError(
            f"the vlm describer needs the model stack ({exc.name} is missing): "
            "pip install 'sonicvision[gpu]'",
            field="describer",
        ) from exc

    chat = LocalVLM.load(
        source,
        device=options.device,
        dtype=options.dtype,
        max_new_tokens=options.max_new_tokens,
        do_sample=options.do_sample,
    )
    return VLMDescriber(
        chat,
        frame_size=options.frame_size,
        max_sounds=options.max_sounds,
        batch_size=options.batch_size,
    )
