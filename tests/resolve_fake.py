"""A fake of the DaVinci Resolve scripting API subset the plugin uses, kept faithful to it.

Same method names, argument shapes and return types as Resolve's scripting README: getters
return objects or None, actions return bools, ``ImportMedia``/``AppendToTimeline`` return
lists (shorter or empty on failure), markers are ``{frame: {color, duration, note, name,
customData}}`` with frames from the timeline start, track indices are 1-based. Every call is
recorded; ``fail_on(method, nth)`` makes the nth call fail the way Resolve fails (falsy
return, nothing changed). ``snapshot()`` is the whole visible state, to prove a rollback.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import opentimelineio as otio

MARKER_COLORS = {
    "Blue",
    "Cyan",
    "Green",
    "Yellow",
    "Red",
    "Pink",
    "Purple",
    "Fuchsia",
    "Rose",
    "Lavender",
    "Sky",
    "Mint",
    "Lemon",
    "Sand",
    "Cocoa",
    "Cream",
}
AUDIO_SUBTYPES = {"mono", "stereo", "5.1", "5.1film", "7.1", "7.1film", "adaptive1"}
MUTATING = {
    "AddTrack",
    "DeleteTrack",
    "SetTrackName",
    "AppendToTimeline",
    "AddMarker",
    "DeleteMarkerByCustomData",
    "DeleteClips",
    "ImportMedia",
    "AddSubFolder",
    "DeleteFolders",
    "ImportTimelineFromFile",
    "DeleteTimelines",
    "SetCurrentTimeline",
    "Export",
}
_ids = itertools.count(1)


class Recorder:
    """Every call in order, and the failures a test asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self._fail: dict[str, set[int]] = {}
        self._count: dict[str, int] = {}

    def fail_on(self, method: str, nth: int = 1) -> None:
        self._fail.setdefault(method, set()).add(nth)

    def __call__(self, method: str, *args) -> bool:
        """Record a call; True when this call must fail."""
        self.calls.append((method, args))
        n = self._count[method] = self._count.get(method, 0) + 1
        return n in self._fail.get(method, set())

    def named(self, method: str) -> list[tuple]:
        return [args for name, args in self.calls if name == method]

    def mutating(self) -> list[str]:
        return [name for name, _ in self.calls if name in MUTATING]


class MediaPoolItem:
    def __init__(self, rec: Recorder, path: str) -> None:
        self._rec, self.path, self.uid = rec, path, f"mpi-{next(_ids)}"

    def GetName(self) -> str:
        return Path(self.path).name

    def GetUniqueId(self) -> str:
        return self.uid

    def GetClipProperty(self, name: str | None = None):
        props = {"File Path": self.path, "Clip Name": self.GetName(), "Type": "Audio"}
        return props if name is None else props.get(name, "")


class Folder:
    def __init__(self, rec: Recorder, name: str) -> None:
        self._rec, self.name = rec, name
        self.clips: list[MediaPoolItem] = []
        self.subfolders: list[Folder] = []

    def GetName(self) -> str:
        return self.name

    def GetClipList(self) -> list[MediaPoolItem]:
        return list(self.clips)

    def GetSubFolderList(self) -> list[Folder]:
        return list(self.subfolders)


@dataclass
class TimelineItem:
    item: MediaPoolItem
    start: int  # absolute record frame, as Resolve's GetStart()
    end: int
    source_in: int
    source_out: int
    media_type: int

    def GetStart(self) -> int:
        return self.start

    def GetEnd(self) -> int:
        return self.end

    def GetName(self) -> str:
        return self.item.GetName()


@dataclass
class Track:
    name: str
    subtype: str
    items: list[TimelineItem] = field(default_factory=list)


class Timeline:
    def __init__(
        self,
        rec: Recorder,
        name: str,
        rate: str,
        start_frame: int,
        duration: int,
        export_text: str = "",
        audio_tracks: int = 1,
    ) -> None:
        self._rec, self.name, self.rate = rec, name, rate
        self.start_frame, self.duration = start_frame, duration
        self.export_text = export_text
        self.audio = [Track(f"Audio {i + 1}", "stereo") for i in range(audio_tracks)]
        self.markers: dict[int, dict] = {}

    # -- reading ---------------------------------------------------------------------------
    def GetName(self) -> str:
        self._rec("GetName")
        return self.name

    def GetSetting(self, name: str = ""):
        self._rec("GetSetting", name)
        settings = {"timelineFrameRate": self.rate}
        return settings if not name else settings.get(name, "")

    def GetStartFrame(self) -> int:
        self._rec("GetStartFrame")
        return self.start_frame

    def GetEndFrame(self) -> int:
        return self.start_frame + self.duration - 1

    def GetTrackCount(self, kind: str) -> int:
        self._rec("GetTrackCount", kind)
        return len(self.audio) if kind == "audio" else 1

    def GetTrackName(self, kind: str, index: int) -> str:
        return self.audio[index - 1].name if kind == "audio" else "Video 1"

    def GetItemListInTrack(self, kind: str, index: int) -> list[TimelineItem]:
        return list(self.audio[index - 1].items) if kind == "audio" else []

    def GetMarkers(self) -> dict:
        self._rec("GetMarkers")
        return {float(frame): dict(data) for frame, data in self.markers.items()}

    def Export(self, path: str, kind, subtype) -> bool:
        if self._rec("Export", path, kind, subtype) or kind != Resolve.EXPORT_OTIO:
            return False
        if subtype != Resolve.EXPORT_NONE:
            return False
        Path(path).write_text(self.export_text)
        return True

    # -- changing --------------------------------------------------------------------------
    def AddTrack(self, kind: str, subtype: str = "") -> bool:
        if self._rec("AddTrack", kind, subtype) or kind != "audio" or subtype not in AUDIO_SUBTYPES:
            return False
        self.audio.append(Track(f"Audio {len(self.audio) + 1}", subtype))
        return True

    def DeleteTrack(self, kind: str, index: int) -> bool:
        if self._rec("DeleteTrack", kind, index) or kind != "audio":
            return False
        if not 1 <= index <= len(self.audio):
            return False
        del self.audio[index - 1]
        return True

    def SetTrackName(self, kind: str, index: int, name: str) -> bool:
        if self._rec("SetTrackName", kind, index, name) or not 1 <= index <= len(self.audio):
            return False
        self.audio[index - 1].name = name
        return True

    def AddMarker(self, frame, color, name, note, duration, custom_data="") -> bool:
        if self._rec("AddMarker", frame, color, name, note, duration, custom_data):
            return False
        ok = (
            isinstance(frame, int)
            and 0 <= frame < self.duration
            and frame not in self.markers
            and color in MARKER_COLORS
            and isinstance(duration, int)
            and duration >= 1
        )
        if ok:
            self.markers[frame] = {
                "color": color,
                "duration": duration,
                "note": note,
                "name": name,
                "customData": custom_data,
            }
        return ok

    def DeleteMarkerByCustomData(self, custom_data: str) -> bool:
        if self._rec("DeleteMarkerByCustomData", custom_data):
            return False
        frames = [f for f, m in self.markers.items() if m["customData"] == custom_data]
        for frame in frames:
            del self.markers[frame]
        return bool(frames)

    def DeleteClips(self, items: list, ripple: bool = False) -> bool:
        if self._rec("DeleteClips", len(items)):
            return False
        for track in self.audio:
            track.items = [i for i in track.items if all(i is not x for x in items)]
        return True


class MediaPool:
    def __init__(self, rec: Recorder, project: Project) -> None:
        self._rec, self.project = rec, project
        self.root = Folder(rec, "Master")
        self.current = self.root

    def GetRootFolder(self) -> Folder:
        self._rec("GetRootFolder")
        return self.root

    def GetCurrentFolder(self) -> Folder:
        self._rec("GetCurrentFolder")
        return self.current

    def SetCurrentFolder(self, folder: Folder) -> bool:
        self._rec("SetCurrentFolder", folder.name)
        self.current = folder
        return True

    def AddSubFolder(self, parent: Folder, name: str):
        if self._rec("AddSubFolder", parent.name, name):
            return None
        folder = Folder(self._rec, name)
        parent.subfolders.append(folder)
        return folder

    def _folders(self, folder: Folder | None = None):
        folder = folder or self.root
        yield folder
        for sub in folder.subfolders:
            yield from self._folders(sub)

    def DeleteFolders(self, folders: list[Folder]) -> bool:
        if self._rec("DeleteFolders", [f.name for f in folders]):
            return False
        for parent in list(self._folders()):
            parent.subfolders = [f for f in parent.subfolders if all(f is not x for x in folders)]
        if any(self.current is f for f in folders):
            self.current = self.root
        return True

    def ImportMedia(self, paths: list[str]) -> list[MediaPoolItem]:
        assert all(isinstance(p, str) for p in paths), "Resolve takes path strings"
        if self._rec("ImportMedia", list(paths)):
            return []
        items = [MediaPoolItem(self._rec, p) for p in paths if Path(p).is_file()]
        self.current.clips += items
        return items

    def DeleteClips(self, items: list[MediaPoolItem]) -> bool:
        if self._rec("DeleteClips", [i.GetName() for i in items]):
            return False
        for folder in self._folders():
            folder.clips = [c for c in folder.clips if all(c is not x for x in items)]
        return True

    def AppendToTimeline(self, infos: list[dict]) -> list[TimelineItem]:
        """Appends to the project's *current* timeline, as Resolve does."""
        if self._rec("AppendToTimeline", [dict(i) for i in infos]):
            return []
        timeline = self.project.current
        placed = []
        for info in infos:
            assert set(info) <= {
                "mediaPoolItem",
                "startFrame",
                "endFrame",
                "mediaType",
                "trackIndex",
                "recordFrame",
            }, info
            assert isinstance(info["mediaPoolItem"], MediaPoolItem)
            for key in ("startFrame", "endFrame", "recordFrame", "trackIndex", "mediaType"):
                assert type(info[key]) is int, f"{key} must be an int, got {info[key]!r}"
            if not 1 <= info["trackIndex"] <= len(timeline.audio) or info["mediaType"] != 2:
                break
            length = info["endFrame"] - info["startFrame"]  # end frame exclusive
            item = TimelineItem(
                info["mediaPoolItem"],
                info["recordFrame"],
                info["recordFrame"] + length,
                info["startFrame"],
                info["endFrame"],
                info["mediaType"],
            )
            timeline.audio[info["trackIndex"] - 1].items.append(item)
            placed.append(item)
        return placed

    def ImportTimelineFromFile(self, path: str, options: dict | None = None):
        options = options or {}
        if self._rec("ImportTimelineFromFile", path, dict(options)):
            return None
        source = otio.adapters.read_from_file(path)
        rate = source.global_start_time.rate if source.global_start_time else 24
        start = round(source.global_start_time.value) if source.global_start_time else 0
        timeline = Timeline(
            self._rec, options.get("timelineName") or source.name, str(rate), start, 10_000
        )
        if options.get("importSourceClips", True):
            for clip in source.find_clips():
                ref = clip.media_reference
                if isinstance(ref, otio.schema.ExternalReference):
                    local = ref.target_url.removeprefix("file://")
                    self.current.clips.append(MediaPoolItem(self._rec, local))
        self.project.timelines.append(timeline)
        return timeline

    def DeleteTimelines(self, timelines: list[Timeline]) -> bool:
        if self._rec("DeleteTimelines", [t.name for t in timelines]):
            return False
        self.project.timelines = [
            t for t in self.project.timelines if all(t is not x for x in timelines)
        ]
        return True


class Project:
    def __init__(self, rec: Recorder, timeline: Timeline | None) -> None:
        self._rec = rec
        self.timelines = [timeline] if timeline else []
        self.current = timeline
        self.media_pool = MediaPool(rec, self)

    def GetName(self) -> str:
        return "Reel 2"

    def GetMediaPool(self) -> MediaPool:
        self._rec("GetMediaPool")
        return self.media_pool

    def GetCurrentTimeline(self):
        self._rec("GetCurrentTimeline")
        return self.current

    def SetCurrentTimeline(self, timeline: Timeline) -> bool:
        if self._rec("SetCurrentTimeline", timeline.name):
            return False
        self.current = timeline
        return True

    def GetSetting(self, name: str = ""):
        self._rec("GetSetting", name)
        rate = self.current.rate if self.current else "24"
        return {"timelineFrameRate": rate}.get(name, "") if name else {}


class ProjectManager:
    def __init__(self, rec: Recorder, project: Project | None) -> None:
        self._rec, self.project = rec, project

    def GetCurrentProject(self):
        self._rec("GetCurrentProject")
        return self.project


class Resolve:
    EXPORT_OTIO = 22  # distinct ints, like Resolve's constants
    EXPORT_NONE = 0
    EXPORT_AAF = 1

    def __init__(
        self,
        *,
        rate: str = "24",
        start_frame: int = 86400,
        duration: int = 2400,
        export_text: str = "",
        timeline: bool = True,
        project: bool = True,
        audio_tracks: int = 1,
    ) -> None:
        self.rec = Recorder()
        self.timeline = (
            Timeline(self.rec, "Reel 2 cut", rate, start_frame, duration, export_text, audio_tracks)
            if timeline
            else None
        )
        self.project = Project(self.rec, self.timeline) if project else None
        self.manager = ProjectManager(self.rec, self.project)

    def GetProjectManager(self) -> ProjectManager:
        self.rec("GetProjectManager")
        return self.manager

    def snapshot(self) -> dict:
        """Everything an editor could see: tracks, clips, markers, bins, timelines."""
        project = self.project

        def folder(f: Folder) -> dict:
            return {
                "name": f.name,
                "clips": sorted(c.path for c in f.clips),
                "sub": [folder(s) for s in f.subfolders],
            }

        return {
            "timelines": [t.name for t in project.timelines],
            "current": project.current.name if project.current else None,
            "tracks": [
                (t.name, t.subtype, [(i.start, i.end, i.item.path) for i in t.items])
                for t in (project.current.audio if project.current else [])
            ],
            "markers": dict(project.current.markers) if project.current else {},
            "bins": folder(project.media_pool.root),
            "current_folder": project.media_pool.current.name,
        }
