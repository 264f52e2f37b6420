"""SonicVision Foley inside DaVinci Resolve: export the cut, get its sounds, bring them in.

Runs as Workspace > Scripts > SonicVision Foley (Resolve gives the script ``resolve``,
``fusion`` and ``bmd``) or from a terminal through ``DaVinciResolveScript`` (Resolve Studio).
The current timeline is exported as OTIO; SonicVision runs here ("local") or on a server; the
result's WAVs go into a "SonicVision" bin and onto new audio tracks, its cues become markers.
If anything fails, everything this run added (tracks, clips, markers, bin items) is taken out.
Only the standard library is imported at the top, so a missing install is reported plainly.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

BIN_NAME = "SonicVision"
CUSTOM_DATA_PREFIX = "sonicvision:"
PASSES = ("foley", "analyze", "render")
GUIDE_AUDIO = ("auto", "off", "only")  # server/guide GUIDE_MODES: production sound as a guide
SETTINGS_ENV = "SONICVISION_RESOLVE_SETTINGS"
AUDIO = 2  # AppendToTimeline mediaType: 1 video only, 2 audio only
# Resolve's AppendToTimeline end frame is exclusive (design.md): a clip of N frames from frame S
# is startFrame=S, endFrame=S+N. Flip this one switch if a Resolve version proves otherwise.
END_FRAME_INCLUSIVE = False
# OTIO marker colours -> Resolve's marker colour names.
MARKER_COLORS = {
    "RED": "Red",
    "PINK": "Pink",
    "ORANGE": "Sand",
    "YELLOW": "Yellow",
    "GREEN": "Green",
    "CYAN": "Cyan",
    "BLUE": "Blue",
    "PURPLE": "Purple",
    "MAGENTA": "Fuchsia",
    "BLACK": "Cocoa",
    "WHITE": "Cream",
}
NOT_INSTALLED = (
    "SonicVision is not importable from the Python that Resolve runs ({python}): {error}. "
    "Install it into that Python (pip install sonicvision), or run 'sonicvision install "
    "resolve' from a SonicVision environment of the same Python version."
)


class PluginError(Exception):
    """A message for the editor: why the run stopped (nothing was added)."""


Progress = Callable[[str, int, int], None]


# -- settings -------------------------------------------------------------------------------


def _is_confidence(value: Any) -> bool:
    """A number in [0, 1]; JSON settings can hold anything, and a bool is not a confidence."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and 0.0 <= value <= 1.0


def read_confidence(text: str) -> float:
    """The dialog's "Least confidence" box as a number; empty is 0 (every impact cue)."""
    text = str(text).strip()
    try:
        value = float(text) if text else 0.0
    except ValueError:
        raise PluginError(
            f"Least confidence {text!r} is not a number: give one from 0 to 1 (0 keeps every "
            "impact cue)."
        ) from None
    if not _is_confidence(value):
        raise PluginError(f"Least confidence {text} is outside 0 to 1 (0 keeps every impact cue).")
    return value


def config_dir() -> Path:
    """Where the saved dialog choices live, per OS."""
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming"
        return Path(base) / "SonicVision"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "SonicVision"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "sonicvision"


def settings_path() -> Path:
    return Path(os.environ.get(SETTINGS_ENV) or config_dir() / "resolve.json")


@dataclass
class Settings:
    """The choices a run needs; the dialog edits them and saves them for the next run."""

    server: str = "local"  # "local", or the gRPC address "host:port" of a SonicVision server
    token: str = ""
    token_file: str = ""  # a file holding the token (kept out of these settings); wins if set
    tls_ca: str = ""  # the CA certificate (PEM) of a TLS server; "" connects in plaintext
    job_pass: str = "foley"
    marker_prefix: str = "SFX:"
    new_timeline: bool = False  # import the result as a new timeline instead of adding tracks
    output_dir: str = ""  # "" -> ~/SonicVision
    send: str = "bytes"  # "bytes": upload the export; "path": the server reads it (shared disk)
    seed: int = 0
    cue_markers: bool = True
    guide_audio: str = "auto"  # the clips' production sound confirms and places cues
    min_confidence: float = 0.0  # impact cues less likely than this (after the guide) left out
    path_maps: list[str] = field(default_factory=list)
    timeout_s: float = 3600.0

    def check(self) -> Settings:
        if self.job_pass not in PASSES:
            raise PluginError(f"Unknown pass {self.job_pass!r}: choose one of {', '.join(PASSES)}.")
        if self.guide_audio not in GUIDE_AUDIO:
            raise PluginError(
                f"Unknown guide audio {self.guide_audio!r}: choose one of {', '.join(GUIDE_AUDIO)}."
            )
        if not _is_confidence(self.min_confidence):
            raise PluginError(
                f"Least confidence (min_confidence) is {self.min_confidence!r}: "
                "give a number from 0 to 1 (0 keeps every impact cue)."
            )
        if self.send not in ("bytes", "path"):
            raise PluginError(f"Unknown send mode {self.send!r}: 'bytes' or 'path'.")
        if not self.server.strip():
            raise PluginError("No server given: type 'local' or a server address like host:50051.")
        return self

    def bearer(self) -> str | None:
        """The token to send: the token file's contents, else the token typed in."""
        if self.token_file:
            path = Path(self.token_file).expanduser()
            try:
                text = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise PluginError(f"Cannot read the token file {path}: {exc.strerror}.") from None
            if not text:
                raise PluginError(f"The token file {path} is empty.")
            return text
        return self.token or None

    def ca_bytes(self) -> bytes | None:
        if not self.tls_ca:
            return None
        path = Path(self.tls_ca).expanduser()
        try:
            return path.read_bytes()
        except OSError as exc:
            raise PluginError(f"Cannot read the TLS CA file {path}: {exc.strerror}.") from None

    @property
    def local(self) -> bool:
        return self.server.strip().lower() == "local"

    def output_folder(self) -> Path:
        if self.output_dir:
            return Path(self.output_dir).expanduser()
        return Path.home() / "SonicVision"

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        """Saved settings, or the defaults; unknown keys from other versions are ignored."""
        path = path or settings_path()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise PluginError(f"Cannot read the SonicVision settings {path}: {exc}") from None
        if not isinstance(data, dict):
            raise PluginError(f"The SonicVision settings {path} are not a JSON object.")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known}).check()

    def save(self, path: Path | None = None) -> Path:
        path = path or settings_path()
        from sonicvision import files

        files.write_json(path, asdict(self), indent=2)
        return path


# -- frames ---------------------------------------------------------------------------------


def parse_rate(text: str) -> Fraction:
    """Resolve's ``timelineFrameRate`` ("23.976", "25", "29.97 DF") as an exact rate."""
    from sonicvision.adapters.timecode import exact_rate
    from sonicvision.errors import SonicVisionError

    try:
        return exact_rate(text).limit_denominator(1001)
    except SonicVisionError as exc:
        raise PluginError(f"Resolve reports an unusable frame rate: {exc.message}.") from None


def to_frames(time: Any, fps: Fraction) -> int:
    """An OTIO RationalTime as whole timeline frames (half a frame rounds up).

    A time already at the timeline's rate (23.976 written as 23.976 or as 24000/1001) keeps
    its frame count; any other rate is rescaled exactly first.
    """
    if time.rate <= 0:
        raise PluginError(f"The result timeline holds a time with rate {time.rate}.")
    value = Fraction(time.value)
    if abs(time.rate - float(fps)) >= 1e-3:
        value = value * fps / Fraction(time.rate)
    return math.floor(value + Fraction(1, 2))


# -- what goes where --------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipPlan:
    path: Path
    record: int  # frames from the timeline's first frame (0-based)
    source_in: int  # frames into the file
    duration: int


@dataclass(frozen=True)
class TrackPlan:
    name: str
    subtype: str  # "mono" or "stereo"
    clips: tuple[ClipPlan, ...]


@dataclass(frozen=True)
class MarkerPlan:
    frame: int  # from the timeline's first frame, as AddMarker counts
    color: str
    name: str
    note: str
    duration: int
    custom_data: str


@dataclass(frozen=True)
class Plan:
    tracks: tuple[TrackPlan, ...]
    markers: tuple[MarkerPlan, ...]

    @property
    def files(self) -> list[Path]:
        return list(dict.fromkeys(c.path for t in self.tracks for c in t.clips))


def plan_from_timeline(timeline: Any, fps: Fraction) -> Plan:
    """Our new tracks and cue markers in a result timeline, in whole frames at ``fps``."""
    from sonicvision.adapters.tracks import cue_markers, our_tracks

    try:
        found = our_tracks(timeline)  # the editor's own tracks come back unchanged: not ours
    except ValueError as exc:
        raise PluginError(f"The result cannot be imported: {exc}.") from None
    tracks = []
    for track in found:
        clips = [
            ClipPlan(
                path=clip.path,
                record=to_frames(clip.record_range.start_time, fps),
                source_in=to_frames(clip.source_range.start_time, fps),
                duration=max(1, to_frames(clip.source_range.duration, fps)),
            )
            for clip in track.clips
        ]
        if clips:
            subtype = "mono" if {c.channels for c in track.clips} == {1} else "stereo"
            tracks.append(TrackPlan(track.name, subtype, tuple(clips)))
    markers = []
    for cue in cue_markers(timeline):
        if cue.meta is None:
            continue  # the editor's marker: already on the timeline
        marker = cue.marker
        frame = to_frames(marker.marked_range.start_time, fps)
        cue_id = str(cue.meta.get("cue_id") or f"f{frame}")
        markers.append(
            MarkerPlan(
                frame=frame,
                color=MARKER_COLORS.get(str(marker.color).upper(), "Cyan"),
                name=marker.name,
                note=marker.comment or str(cue.meta.get("text", "")),
                duration=max(1, to_frames(marker.marked_range.duration, fps)),
                custom_data=CUSTOM_DATA_PREFIX + cue_id,
            )
        )
    return Plan(tuple(tracks), tuple(markers))


def end_frame(start: int, duration: int) -> int:
    """AppendToTimeline's endFrame for ``duration`` frames from ``start``."""
    return start + duration - 1 if END_FRAME_INCLUSIVE else start + duration


# -- putting it into Resolve, all or nothing --------------------------------------------------


class Journal:
    """What this run added to the project, undone newest first if the run fails."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], Any]]] = []

    def add(self, what: str, undo: Callable[[], Any]) -> None:
        self._steps.append((what, undo))

    def rollback(self) -> list[str]:
        """Undo everything; returns what could not be removed (to name it to the editor)."""
        left = []
        for what, undo in reversed(self._steps):
            try:
                ok = undo()
            except Exception:
                ok = False
            if ok is False or ok is None:
                left.append(what)
        self._steps.clear()
        return left


@dataclass
class Placed:
    tracks: list[str] = field(default_factory=list)
    clips: int = 0
    markers: int = 0
    new_timeline: str = ""
    notes: list[str] = field(default_factory=list)


def _sub_bin(media_pool: Any, journal: Journal) -> Any:
    root = media_pool.GetRootFolder()
    for folder in root.GetSubFolderList() or []:
        if folder.GetName() == BIN_NAME:
            return folder
    folder = media_pool.AddSubFolder(root, BIN_NAME)
    if not folder:
        raise PluginError(f"Resolve would not create the media pool bin {BIN_NAME!r}.")
    journal.add(f"bin {BIN_NAME!r}", lambda: media_pool.DeleteFolders([folder]))
    return folder


def _import_media(media_pool: Any, files: list[Path], journal: Journal) -> dict[Path, Any]:
    items = media_pool.ImportMedia([str(p) for p in files]) or []
    if items:
        what = f"{len(items)} clips in bin {BIN_NAME!r}"
        journal.add(what, lambda: media_pool.DeleteClips(items))
    if len(items) != len(files):
        raise PluginError(
            f"Resolve imported {len(items)} of {len(files)} sound files (see the Console)."
        )
    by_path: dict[Path, Any] = {}
    for item in items:
        prop = item.GetClipProperty("File Path") or ""
        if prop:
            by_path[Path(prop)] = item
    if len(by_path) != len(files) or any(p not in by_path for p in files):
        by_path = dict(zip(files, items, strict=True))  # no usable paths: Resolve keeps order
    return by_path


def _add_track(timeline: Any, track: TrackPlan, journal: Journal, placed: Placed) -> int:
    if not timeline.AddTrack("audio", track.subtype):
        raise PluginError(f"Resolve would not add an audio track for {track.name!r}.")
    index = int(timeline.GetTrackCount("audio"))
    journal.add(f"audio track {track.name!r}", lambda: timeline.DeleteTrack("audio", index))
    if not timeline.SetTrackName("audio", index, track.name):
        placed.notes.append(f"audio track {index} could not be named {track.name!r}")
    return index


def _append(media_pool: Any, timeline: Any, infos: list[dict], journal: Journal, name: str):
    items = media_pool.AppendToTimeline(infos) or []
    if items:
        journal.add(f"{len(items)} clips on {name!r}", lambda: timeline.DeleteClips(items))
    if len(items) != len(infos):
        raise PluginError(f"Resolve placed {len(items)} of {len(infos)} clips on {name!r}.")
    return items


def _markers(timeline: Any, plan: Plan, journal: Journal, placed: Placed) -> None:
    existing = timeline.GetMarkers() or {}
    taken = {int(float(frame)) for frame in existing}
    data = {str(m.get("customData", "")) for m in existing.values()}
    for marker in plan.markers:
        if marker.custom_data in data:
            placed.notes.append(f"cue {marker.name!r} is already on the timeline")
            continue
        if marker.frame in taken:
            placed.notes.append(
                f"cue {marker.name!r} not added: a marker already sits at frame {marker.frame}"
            )
            continue
        ok = timeline.AddMarker(
            marker.frame,
            marker.color,
            marker.name,
            marker.note,
            marker.duration,
            marker.custom_data,
        )
        if not ok:
            raise PluginError(f"Resolve would not add the cue marker {marker.name!r}.")
        custom = marker.custom_data
        journal.add(
            f"marker {marker.name!r}", lambda c=custom: timeline.DeleteMarkerByCustomData(c)
        )
        taken.add(marker.frame)
        placed.markers += 1


def place_on_timeline(project: Any, timeline: Any, plan: Plan, journal: Journal) -> Placed:
    """WAVs into the bin, new named audio tracks, clips on whole frames, cue markers."""
    placed = Placed()
    missing = [str(p) for p in plan.files if not p.is_file()]
    if missing:
        raise PluginError(f"Result sound files are missing: {', '.join(missing)}.")
    media_pool = project.GetMediaPool()
    previous = media_pool.GetCurrentFolder()
    try:
        media_pool.SetCurrentFolder(_sub_bin(media_pool, journal))
        items = _import_media(media_pool, plan.files, journal) if plan.files else {}
        start = int(timeline.GetStartFrame())
        for track in plan.tracks:
            index = _add_track(timeline, track, journal, placed)
            infos = [
                {
                    "mediaPoolItem": items[clip.path],
                    "startFrame": clip.source_in,
                    "endFrame": end_frame(clip.source_in, clip.duration),
                    "trackIndex": index,
                    "recordFrame": start + clip.record,
                    "mediaType": AUDIO,
                }
                for clip in track.clips
            ]
            _append(media_pool, timeline, infos, journal, track.name)
            placed.tracks.append(track.name)
            placed.clips += len(infos)
        _markers(timeline, plan, journal, placed)
    finally:
        if previous:
            media_pool.SetCurrentFolder(previous)
    return placed


def _item_key(item: Any) -> str:
    """A media pool item's identity (Python wrappers are new objects on every call)."""
    for getter in ("GetUniqueId", "GetMediaId"):
        method = getattr(item, getter, None)
        if method is not None and (value := method()):
            return str(value)
    return f"{item.GetClipProperty('File Path')}|{item.GetName()}"


def import_as_timeline(project: Any, result: Path, name: str, journal: Journal) -> Placed:
    """The whole result timeline as a new timeline (its sources into the SonicVision bin)."""
    media_pool = project.GetMediaPool()
    previous_folder = media_pool.GetCurrentFolder()
    previous_timeline = project.GetCurrentTimeline()
    try:
        folder = _sub_bin(media_pool, journal)
        media_pool.SetCurrentFolder(folder)
        before = {_item_key(c) for c in folder.GetClipList() or []}
        timeline = media_pool.ImportTimelineFromFile(
            str(result), {"timelineName": name, "importSourceClips": True}
        )
        added = [c for c in folder.GetClipList() or [] if _item_key(c) not in before]
        if added:
            what = f"{len(added)} clips in bin {BIN_NAME!r}"
            journal.add(what, lambda: media_pool.DeleteClips(added))
        if not timeline:
            raise PluginError(f"Resolve would not import the result timeline {result}.")
        journal.add(f"timeline {name!r}", lambda: media_pool.DeleteTimelines([timeline]))
        if previous_timeline:
            journal.add(
                "the current timeline", lambda: project.SetCurrentTimeline(previous_timeline)
            )
        project.SetCurrentTimeline(timeline)
        return Placed(new_timeline=name)
    finally:
        if previous_folder:
            media_pool.SetCurrentFolder(previous_folder)


# -- getting the result -----------------------------------------------------------------------


def _options(settings: Settings):
    from sonicvision.adapters.markers import MarkerRule
    from sonicvision.server.options import FoleyOptions

    return FoleyOptions(
        seed=settings.seed,
        marker_rule=MarkerRule(prefix=settings.marker_prefix),
        path_maps=list(settings.path_maps),
        cue_markers=settings.cue_markers,
        guide_audio=settings.guide_audio,
        min_confidence=float(settings.min_confidence),
    )


def run_local(settings: Settings, exported: Path, run_dir: Path, progress: Progress) -> Path:
    """The pass on this machine; returns the result timeline (its WAVs beside it)."""
    from sonicvision.server.pipeline import run

    output = run_dir / f"{exported.stem}_{settings.job_pass}.otio"
    return Path(run(settings.job_pass, exported, output, _options(settings), progress).output)


def run_remote(settings: Settings, exported: Path, run_dir: Path, progress: Progress) -> Path:
    """The pass as a job on a SonicVision server; the result fetched into ``run_dir``."""
    import grpc

    from sonicvision.server.service.client import SonicVisionClient
    from sonicvision.server.service.errors import RemoteError
    from sonicvision.server.service.wire import options_message, state_name
    from sonicvision.v1 import jobs_pb2 as pb

    address = settings.server.strip()
    try:
        token, ca = settings.bearer(), settings.ca_bytes()
        with SonicVisionClient(address, token=token, tls_ca=ca, timeout=30) as client:
            kwargs = dict(
                job_pass=settings.job_pass, options=options_message(_options(settings), "otio")
            )
            if settings.send == "path":
                reply = client.submit(server_path=str(exported), **kwargs)
            else:
                reply = client.submit(
                    content=exported.read_bytes(), filename=exported.name, **kwargs
                )
            for event in client.watch(reply.job_id, timeout=settings.timeout_s):
                progress(event.stage or state_name(event.state), event.done, event.total)
            job = client.get(reply.job_id)
            if job.state != pb.JOB_STATE_SUCCEEDED:
                why = job.error.message or "no reason given"
                raise PluginError(
                    f"The SonicVision job {job.job_id} {state_name(job.state)}: {why}"
                )
            return Path(client.fetch(reply.job_id, run_dir, timeout=settings.timeout_s).timeline)
    except RemoteError as exc:
        if exc.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            details = exc.details.lower()
            if settings.tls_ca and any(w in details for w in ("ssl", "handshake", "certificate")):
                raise PluginError(
                    f"The TLS connection to {address} failed: is {settings.tls_ca} the CA that "
                    f"signed the server's certificate, and its name {address.split(':')[0]}? "
                    f"({exc.details})"
                ) from None
            raise PluginError(
                f"The SonicVision server at {address} is not reachable. Start it with "
                f"'sonicvision serve', or set the server to 'local' to run on this machine. "
                f"({exc.details})"
            ) from None
        raise PluginError(f"The SonicVision server refused the job: {exc}") from None


# -- one run ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    ok: bool
    message: str
    placed: Placed | None = None
    result: Path | None = None


class ConsoleProgress:
    """Progress as lines on Resolve's Console: one per stage change and per tenth done."""

    def __init__(self, write: Callable[[str], Any] = print) -> None:
        self.write = write
        self._last: tuple[str, int] = ("", -1)

    def __call__(self, stage: str, done: int, total: int) -> None:
        tenth = (10 * done // total) if total else 0
        if (stage, tenth) != self._last:
            self._last = (stage, tenth)
            self.write(f"SonicVision: {stage} {done}/{total}" if total else f"SonicVision: {stage}")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "timeline"


def _run_folder(settings: Settings, name: str) -> Path:
    base = settings.output_folder() / f"{_slug(name)}_{time.strftime('%Y%m%d-%H%M%S')}"
    folder, n = base, 1
    while True:
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            n += 1
            folder = base.with_name(f"{base.name}_{n}")


def _rate_setting(project: Any, timeline: Any) -> str:
    text = timeline.GetSetting("timelineFrameRate") or project.GetSetting("timelineFrameRate")
    if not text:
        raise PluginError("Resolve did not report the timeline's frame rate.")
    return str(text)


def _timeline_rate(project: Any, timeline: Any) -> Fraction:
    return parse_rate(_rate_setting(project, timeline))


def _keep_rate_setting(exported: Path, setting: str) -> None:
    """Resolve's OTIO export does not say whether its timecode is drop-frame; its setting
    ("29.97 DF") does, so it travels with the export for the pass's timecodes."""
    import opentimelineio as otio

    from sonicvision.adapters.timecode import note_resolve_rate

    try:
        timeline = otio.adapters.read_from_file(str(exported))
    except Exception:  # noqa: BLE001 - the pass reads it again and says what is wrong
        return
    note_resolve_rate(timeline, setting)
    otio.adapters.write_to_file(timeline, str(exported))


def run(
    resolve: Any,
    settings: Settings,
    progress: Progress | None = None,
    write: Callable[[str], Any] = print,
) -> Outcome:
    """Export, run the pass, place the result; on any failure take back what was added."""
    project = resolve.GetProjectManager().GetCurrentProject()
    if not project:
        return Outcome(False, "No project is open in Resolve: open one, then run SonicVision.")
    timeline = project.GetCurrentTimeline()
    if not timeline:
        return Outcome(
            False,
            "No timeline is open: open the cut you want sounds for in the Edit page, "
            "then run SonicVision Foley again.",
        )
    progress = progress or ConsoleProgress(write)
    name = timeline.GetName() or "timeline"
    try:
        settings.check()
        fps = _timeline_rate(project, timeline)
        if settings.local:
            import sonicvision.server.pipeline  # noqa: F401  (fails here, clearly, if absent)
        else:
            import sonicvision.server.service.client  # noqa: F401
        import opentimelineio as otio
    except PluginError as exc:
        return Outcome(False, str(exc))
    except ImportError as exc:
        return Outcome(False, NOT_INSTALLED.format(python=sys.executable, error=exc))

    journal = Journal()
    run_dir: Path | None = None
    export_dir = Path(tempfile.mkdtemp(prefix="sonicvision-resolve-"))
    try:
        run_dir = _run_folder(settings, name)
        # 1. The timeline as Resolve sees it, as OTIO.
        kind = getattr(resolve, "EXPORT_OTIO", None)
        if kind is None:
            raise PluginError("This Resolve cannot export OTIO timelines (Resolve 18.5 or later).")
        where = run_dir if settings.send == "path" and not settings.local else export_dir
        exported = where / f"{_slug(name)}.otio"
        write(f"SonicVision: exporting {name!r} at {float(fps):.3f} fps")
        if not timeline.Export(str(exported), kind, resolve.EXPORT_NONE) or not exported.is_file():
            raise PluginError(f"Resolve could not export the timeline {name!r} as OTIO.")
        _keep_rate_setting(exported, _rate_setting(project, timeline))
        # 2. The pass, here or on the server.
        runner = run_local if settings.local else run_remote
        result = runner(settings, exported, run_dir, progress)
        # 3. The result into the project.
        if settings.new_timeline:
            title = f"{name} SonicVision {settings.job_pass} {time.strftime('%H%M%S')}"
            placed = import_as_timeline(project, result, title, journal)
        else:
            plan = plan_from_timeline(otio.adapters.read_from_file(str(result)), fps)
            placed = place_on_timeline(project, timeline, plan, journal)
    except Exception as exc:
        left = journal.rollback()
        message = str(exc) if isinstance(exc, PluginError) else _unexpected(exc)
        if left:
            message += " Could not take back: " + "; ".join(left) + " (remove by hand)."
        else:
            message += " Nothing was added to the project."
            if run_dir is not None:
                shutil.rmtree(run_dir, ignore_errors=True)
        return Outcome(False, message)
    finally:
        shutil.rmtree(export_dir, ignore_errors=True)
    return Outcome(True, _summary(placed, result), placed, result)


def _unexpected(exc: BaseException) -> str:
    try:
        from sonicvision.errors import SonicVisionError
    except ImportError:  # pragma: no cover - checked before the run starts
        SonicVisionError = ()  # noqa: N806
    if isinstance(exc, SonicVisionError):
        return f"SonicVision stopped: {exc}."
    return f"SonicVision stopped on an unexpected error: {type(exc).__name__}: {exc}."


def _summary(placed: Placed, result: Path) -> str:
    if placed.new_timeline:
        lines = [f"SonicVision: imported the result as the timeline {placed.new_timeline!r}."]
    else:
        tracks = ", ".join(placed.tracks) or "no new tracks"
        lines = [
            f"SonicVision: added {placed.clips} clips on {len(placed.tracks)} audio tracks "
            f"({tracks}) and {placed.markers} cue markers."
        ]
    lines.append(f"Files: {result.parent}")
    lines += [f"Note: {n}" for n in placed.notes]
    return "\n".join(lines)


# -- the dialog (Fusion UI manager) -----------------------------------------------------------


def ask_settings(fusion: Any, bmd: Any, settings: Settings) -> Settings | None:
    """A small dialog for the choices; ``None`` when the editor cancels."""
    ui = fusion.UIManager
    dispatcher = bmd.UIDispatcher(ui)
    label = {"Weight": 0.3}
    win = dispatcher.AddWindow(
        {"ID": "SVFoley", "WindowTitle": "SonicVision Foley", "Geometry": [200, 200, 460, 260]},
        ui.VGroup(
            [
                ui.HGroup(
                    [
                        ui.Label({"Text": "Server", **label}),
                        ui.LineEdit(
                            {"ID": "Server", "Text": settings.server, "PlaceholderText": "local"}
                        ),
                    ]
                ),
                ui.HGroup(
                    [
                        ui.Label({"Text": "Token file", **label}),
                        ui.LineEdit({"ID": "TokenFile", "Text": settings.token_file}),
                    ]
                ),
                ui.HGroup(
                    [
                        ui.Label({"Text": "TLS CA file", **label}),
                        ui.LineEdit(
                            {"ID": "TlsCa", "Text": settings.tls_ca, "PlaceholderText": "plaintext"}
                        ),
                    ]
                ),
                ui.HGroup([ui.Label({"Text": "Pass", **label}), ui.ComboBox({"ID": "Pass"})]),
                ui.HGroup(
                    [
                        ui.Label({"Text": "Production sound", **label}),
                        ui.ComboBox({"ID": "GuideAudio"}),
                    ]
                ),
                ui.HGroup(
                    [
                        ui.Label({"Text": "Least confidence (0-1)", **label}),
                        ui.LineEdit(
                            {
                                "ID": "MinConfidence",
                                "Text": f"{settings.min_confidence:g}",
                                "PlaceholderText": "0: every impact cue",
                            }
                        ),
                    ]
                ),
                ui.HGroup(
                    [
                        ui.Label({"Text": "Marker prefix", **label}),
                        ui.LineEdit({"ID": "Prefix", "Text": settings.marker_prefix}),
                    ]
                ),
                ui.CheckBox(
                    {
                        "ID": "NewTimeline",
                        "Text": "Import the result as a new timeline",
                        "Checked": settings.new_timeline,
                    }
                ),
                ui.HGroup(
                    [
                        ui.Button({"ID": "Cancel", "Text": "Cancel"}),
                        ui.Button({"ID": "Run", "Text": "Run"}),
                    ]
                ),
            ]
        ),
    )
    items = win.GetItems()
    for name in PASSES:
        items["Pass"].AddItem(name)
    items["Pass"].CurrentIndex = PASSES.index(settings.job_pass)
    for mode in GUIDE_AUDIO:
        items["GuideAudio"].AddItem(mode)
    items["GuideAudio"].CurrentIndex = GUIDE_AUDIO.index(settings.guide_audio)
    chosen: dict[str, Any] = {}

    def on_run(event) -> None:
        chosen.update(
            server=str(items["Server"].Text).strip() or "local",
            token_file=str(items["TokenFile"].Text).strip(),
            tls_ca=str(items["TlsCa"].Text).strip(),
            job_pass=PASSES[int(items["Pass"].CurrentIndex)],
            guide_audio=GUIDE_AUDIO[int(items["GuideAudio"].CurrentIndex)],
            min_confidence=str(items["MinConfidence"].Text),
            marker_prefix=str(items["Prefix"].Text),
            new_timeline=bool(items["NewTimeline"].Checked),
        )
        dispatcher.ExitLoop()

    def on_close(event) -> None:
        dispatcher.ExitLoop()

    win.On.Run.Clicked = on_run
    win.On.Cancel.Clicked = on_close
    win.On.SVFoley.Close = on_close
    win.Show()
    dispatcher.RunLoop()
    win.Hide()
    if not chosen:
        return None
    # Read after the loop: an error raised in a UI callback would not reach the editor.
    chosen["min_confidence"] = read_confidence(chosen["min_confidence"])
    return replace(settings, **chosen).check()


def show_message(fusion: Any, bmd: Any, text: str) -> None:
    ui = fusion.UIManager
    dispatcher = bmd.UIDispatcher(ui)
    win = dispatcher.AddWindow(
        {"ID": "SVDone", "WindowTitle": "SonicVision Foley", "Geometry": [220, 220, 520, 160]},
        ui.VGroup(
            [
                ui.Label({"ID": "Text", "Text": text, "WordWrap": True}),
                ui.Button({"ID": "OK", "Text": "OK"}),
            ]
        ),
    )
    win.On.OK.Clicked = lambda event: dispatcher.ExitLoop()
    win.On.SVDone.Close = lambda event: dispatcher.ExitLoop()
    win.Show()
    dispatcher.RunLoop()
    win.Hide()


# -- entry points ----------------------------------------------------------------------------


def scripting_modules() -> list[Path]:
    """Where Resolve keeps DaVinciResolveScript.py, per OS (or $RESOLVE_SCRIPT_API)."""
    found = []
    if os.environ.get("RESOLVE_SCRIPT_API"):
        found.append(Path(os.environ["RESOLVE_SCRIPT_API"]) / "Modules")
    if sys.platform == "darwin":
        found.append(
            Path("/Library/Application Support/Blackmagic Design/DaVinci Resolve")
            / "Developer/Scripting/Modules"
        )
    elif sys.platform == "win32":
        data = os.environ.get("PROGRAMDATA", r"C:\ProgramData")
        found.append(
            Path(data) / "Blackmagic Design/DaVinci Resolve/Support/Developer/Scripting/Modules"
        )
    else:
        found.append(Path("/opt/resolve/Developer/Scripting/Modules"))
    return found


def connect() -> Any:
    """Resolve from outside the app (Resolve Studio, external scripting set to Local)."""
    try:
        import DaVinciResolveScript as dvr  # noqa: N813
    except ImportError:
        sys.path.extend(str(p) for p in scripting_modules() if p.is_dir())
        try:
            import DaVinciResolveScript as dvr  # noqa: N813
        except ImportError:
            raise PluginError(
                "DaVinciResolveScript is not on this Python's path: set RESOLVE_SCRIPT_API to "
                "Resolve's Developer/Scripting folder (see Resolve's scripting README)."
            ) from None
    resolve = dvr.scriptapp("Resolve")
    if not resolve:
        raise PluginError(
            "Resolve is not running, or does not accept scripts from outside: start it and set "
            "Preferences > System > General > External scripting using: Local "
            "(external scripting needs DaVinci Resolve Studio)."
        )
    return resolve


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sonicvision-resolve", description="SonicVision Foley on Resolve's current timeline"
    )
    p.add_argument("--settings", type=Path, help="settings JSON (default: the saved ones)")
    p.add_argument("--server", help="'local' or host:port of a SonicVision server")
    p.add_argument("--token-file", help="a file holding the server's token")
    p.add_argument("--tls-ca", help="the TLS server's CA certificate (PEM)")
    p.add_argument("--pass", dest="job_pass", choices=PASSES)
    p.add_argument("--marker-prefix")
    p.add_argument("--new-timeline", action="store_true", default=None)
    p.add_argument("--guide-audio", choices=GUIDE_AUDIO, help="production sound as a guide")
    p.add_argument(
        "--min-confidence",
        type=float,
        help="leave out impact cues below this calibrated confidence, 0..1 (0: every cue)",
    )
    p.add_argument("--no-dialog", action="store_true", help="do not ask, use the settings")
    return p


def main(
    argv: list[str] | None = None,
    *,
    resolve: Any = None,
    fusion: Any = None,
    bmd: Any = None,
    write: Callable[[str], Any] = print,
) -> int:
    """Ask (when a UI manager is there) or use the saved settings, run, report."""
    args = _parser().parse_args(argv)
    dialog = fusion is not None and bmd is not None and not args.no_dialog
    try:
        settings = Settings.load(args.settings)
        overrides = {
            k: getattr(args, k)
            for k in (
                "server",
                "token_file",
                "tls_ca",
                "job_pass",
                "marker_prefix",
                "new_timeline",
                "guide_audio",
                "min_confidence",
            )
            if getattr(args, k) is not None
        }
        settings = replace(settings, **overrides).check()
        if resolve is None:
            resolve = connect()
        if dialog:
            chosen = ask_settings(fusion, bmd, settings)
            if chosen is None:
                write("SonicVision: cancelled; nothing was changed.")
                return 1
            settings = chosen
            settings.save(args.settings)
        outcome = run(resolve, settings, write=write)
    except PluginError as exc:
        outcome = Outcome(False, str(exc))
    write(outcome.message)
    if dialog:
        show_message(fusion, bmd, outcome.message)
    return 0 if outcome.ok else 2


if __name__ == "__main__":
    sys.exit(main())
