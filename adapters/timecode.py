"""Frame rates and timecodes, in one place: what a rate means, and time as the timeline says.

Rates are exact fractions (23.976 is 24000/1001). Drop-frame is a property of the timeline,
read from what its format recorded (an EDL's ``FCM``, FCP XML's ``displayformat``, AAF's
timecode, Resolve's ``timelineFrameRate``), never guessed from the rate: 29.97 non-drop is
common. Every record timecode is printed at the timeline's rate; rates SMPTE timecode does not
cover (10, 12, 15, 48 ...) print as frames and seconds.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from .errors import TimelineReadError

logger = logging.getLogger(__name__)

RationalTime = otio.opentime.RationalTime

# NTSC rates editors type as decimals, and the exact rates they mean.
_NTSC = {
    "23.976": Fraction(24000, 1001),
    "23.98": Fraction(24000, 1001),
    "29.97": Fraction(30000, 1001),
    "47.952": Fraction(48000, 1001),
    "59.94": Fraction(60000, 1001),
    "119.88": Fraction(120000, 1001),
}
# Rates that editors write as 23.976 / 29.97 / 59.94 are exactly k * 1000/1001; files often
# store a rounded value (OpenCV writes 23.976 as 2997/125), which we read as the exact one.
_NTSC_BASES = (24, 30, 48, 60, 120, 240)
_RATE_SNAP_RELATIVE = 1e-4
# SMPTE drop-frame exists only at these rates.
_DROP_FRAME_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))
DEFAULT_RATE = 24.0


def exact_rate(text: str | float | Fraction, *, field: str = "rate") -> Fraction:
    """A rate as editors and NLEs write it ('29.97 DF', '23.976', 25) as an exact fraction."""
    raw = re.sub(r"\s*N?DF$", "", str(text).strip().upper())
    try:
        value = Fraction(_NTSC[raw]) if raw in _NTSC else Fraction(raw)
    except (ValueError, ZeroDivisionError):
        raise TimelineReadError(f"{text!r} is not a frame rate", field=field) from None
    if not 1 <= value <= 1000:
        raise TimelineReadError(f"frame rate {text!r} is outside 1..1000 fps", field=field)
    return nominal_rate(value.limit_denominator(1001)) if isinstance(text, float) else value


def parse_rate(text: str | float | None, *, field: str = "rate") -> float | None:
    """'23.976', '29.97', '24000/1001' or 25 -> frames per second (NTSC rates made exact)."""
    return None if text is None else float(exact_rate(text, field=field))


def nominal_rate(rate: Fraction) -> Fraction:
    """The exact rate a stored rate stands for: 2997/125 -> 24000/1001, 25.0000001 -> 25."""
    if rate <= 0:
        return rate
    for base in _NTSC_BASES:
        ntsc = Fraction(base * 1000, 1001)
        if abs(rate - ntsc) / ntsc < _RATE_SNAP_RELATIVE:
            return ntsc
    whole = Fraction(round(rate))
    if whole > 0 and abs(rate - whole) / whole < _RATE_SNAP_RELATIVE:
        return whole
    return rate


def as_fraction(rate: float | Fraction) -> Fraction:
    """An OTIO float rate (29.97, 29.97002997) as the exact rate it stands for."""
    if isinstance(rate, Fraction):
        return rate
    for ntsc in _NTSC.values():
        if abs(rate - float(ntsc)) < 1e-3:
            return ntsc
    return nominal_rate(Fraction(rate).limit_denominator(1001))


def timeline_rate(timeline: otio.schema.Timeline) -> float:
    """The timeline's frame rate: its start time's rate, else the first item's."""
    if timeline.global_start_time is not None:
        return timeline.global_start_time.rate
    for item in timeline.find_children(descended_from_type=otio.core.Item):
        return item.trimmed_range().duration.rate
    return DEFAULT_RATE


def _is_drop_rate(rate: float) -> bool:
    return any(abs(rate - float(r)) < 1e-3 for r in _DROP_FRAME_RATES)


def is_drop_frame(timeline: otio.schema.Timeline) -> bool:
    """Whether the timeline counts drop-frame timecode, as its own format recorded it.

    Nothing recorded (a plain .otio): non-drop, the NLEs' default.
    """
    if not _is_drop_rate(timeline_rate(timeline)):
        return False
    return bool(_recorded_drop_frame(timeline.metadata))


def _recorded_drop_frame(meta) -> bool | None:
    fcp = meta.get("fcp_xml") or {}
    fcp_tc = fcp.get("timecode") if hasattr(fcp, "get") else None
    if hasattr(fcp_tc, "get") and fcp_tc.get("displayformat"):
        return str(fcp_tc["displayformat"]).upper() == "DF"
    cmx = meta.get("cmx_3600") or {}
    if hasattr(cmx, "get") and cmx.get("FCM"):
        return str(cmx["FCM"]).upper().startswith("DROP")
    aaf = meta.get("AAF") or {}
    aaf_tc = aaf.get("Timecode") if hasattr(aaf, "get") else None
    if hasattr(aaf_tc, "get") and "Drop" in aaf_tc:
        return bool(aaf_tc["Drop"])
    resolve = meta.get("Resolve_OTIO") or {}
    setting = resolve.get("timelineFrameRate") if hasattr(resolve, "get") else None
    if setting:
        return bool(re.search(r"(?<!N)DF\s*$", str(setting).strip().upper()))
    return None


def to_timecode(t: RationalTime, rate: float, drop: bool = False) -> str:
    """``t`` as SMPTE timecode at ``rate``; at rates SMPTE does not cover, frames + seconds
    (``1234fr_82.267s``), so a 10, 12 or 15 fps timeline prints instead of failing."""
    frames = round(t.rescaled_to(rate).value)
    whole = RationalTime(frames, rate)
    try:
        return otio.opentime.to_timecode(whole, rate, drop and _is_drop_rate(rate))
    except ValueError:
        return f"{frames}fr_{float(Fraction(frames) / as_fraction(rate)):.3f}s"


def timecode(
    t: RationalTime, timeline: otio.schema.Timeline, drop_frame: bool | None = None
) -> str:
    """Timeline time as the editor's record timecode: at the timeline's rate, its start
    (e.g. 01:00:00:00) added, drop-frame as the timeline says (``drop_frame`` overrides)."""
    rate = timeline_rate(timeline)
    start = timeline.global_start_time
    absolute = t.rescaled_to(rate)
    if start is not None:
        absolute = absolute + start.rescaled_to(rate)
    drop = is_drop_frame(timeline) if drop_frame is None else drop_frame
    return to_timecode(absolute, rate, drop)


# --- what adapters leave out ----------------------------------------------------------------

_EDL_EVENT = re.compile(
    r"^\s*\d+\s+\S+\s+\S+\s+\S+(?:\s+\d+)?"
    r"\s+(\d\d[:;.]\d\d[:;.]\d\d[:;.]\d\d)\s+(\d\d[:;.]\d\d[:;.]\d\d[:;.]\d\d)"
    r"\s+(\d\d[:;.]\d\d[:;.]\d\d[:;.]\d\d)\s+(\d\d[:;.]\d\d[:;.]\d\d[:;.]\d\d)\s*$"
)
_EDL_FCM = re.compile(r"^\s*FCM:\s*(DROP FRAME|NON[- ]DROP FRAME)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class EdlFacts:
    """What a CMX 3600 EDL says about time that OTIO's reader drops."""

    fcm: str | None  # "DROP FRAME" / "NON-DROP FRAME", the first FCM line
    first_record_in: str | None  # record-in timecode of the first event


def edl_facts(text: str) -> EdlFacts:
    fcm = first = None
    for line in text.splitlines():
        if fcm is None and (m := _EDL_FCM.match(line)):
            fcm = m.group(1).upper().replace("NON DROP", "NON-DROP")
        if first is None and (m := _EDL_EVENT.match(line)):
            first = m.group(3)
        if fcm is not None and first is not None:
            break
    return EdlFacts(fcm, first)


def apply_edl_facts(timeline: otio.schema.Timeline, path: Path, rate: float) -> None:
    """An EDL's reel starts at its first event's record-in (OTIO leaves it at zero) and
    counts time as its FCM line says."""
    try:
        facts = edl_facts(Path(path).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return
    if facts.fcm:
        meta = dict(timeline.metadata.get("cmx_3600", {}))
        meta["FCM"] = facts.fcm
        timeline.metadata["cmx_3600"] = meta
    if timeline.global_start_time is None and facts.first_record_in:
        tc = facts.first_record_in.replace(".", ":")
        try:
            timeline.global_start_time = otio.opentime.from_timecode(tc, rate)
        except ValueError:  # a rate SMPTE does not cover: count the frames ourselves
            h, m, s, f = (int(x) for x in re.split(r"[:;]", tc))
            nominal = round(rate)
            timeline.global_start_time = RationalTime(((h * 60 + m) * 60 + s) * nominal + f, rate)


def apply_aaf_facts(timeline: otio.schema.Timeline, path: Path) -> None:
    """AAF's top-level timecode says whether it is drop-frame; OTIO's reader drops the flag."""
    try:
        import aaf2

        with aaf2.open(str(path), "r") as f:
            for mob in f.content.toplevel():
                for slot in mob.slots:
                    segment = slot.segment
                    parts = [segment, *getattr(segment, "components", [])]
                    for part in parts:
                        if type(part).__name__ == "Timecode":
                            meta = dict(timeline.metadata.get("AAF", {}))
                            meta["Timecode"] = {
                                "Start": int(part["Start"].value),
                                "FPS": int(part["FPS"].value),
                                "Drop": bool(part["Drop"].value),
                            }
                            timeline.metadata["AAF"] = meta
                            return
    except Exception as exc:  # noqa: BLE001 - best effort: OTIO already read the file
        logger.debug("no timecode flag read from %s: %s", path, exc)


def note_resolve_rate(timeline: otio.schema.Timeline, setting: str) -> None:
    """Keep Resolve's ``timelineFrameRate`` setting ("29.97 DF") with its OTIO export."""
    meta = dict(timeline.metadata.get("Resolve_OTIO", {}))
    meta["timelineFrameRate"] = str(setting)
    timeline.metadata["Resolve_OTIO"] = meta
