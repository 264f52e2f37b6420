"""The Resolve script against a faithful fake of Resolve's scripting API: exact calls, whole
frames at 23.976 / 25 / 29.97 DF, all-or-nothing placement, and the real local and server runs."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import runpy
import socket
import sys
import types
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf
from resolve_fake import MUTATING, Resolve
from service_support import make_test_certificate, timeline_with_media, wait_serving

from sonicvision.adapters.tracks import CueMarker, add_sound_tracks
from sonicvision.events import Origin, SoundClip, SoundEvent
from sonicvision.server.service.app import run_server

ROOT = Path(__file__).resolve().parents[1]
RESOLVE_DIR = ROOT / "plugin" / "resolve"
RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


def _load(name: str, path: Path):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


svr = _load("sonicvision_resolve", RESOLVE_DIR / "sonicvision_resolve.py")
install = _load("sonicvision_plugin_install", ROOT / "plugin" / "install.py")


@pytest.fixture(autouse=True)
def _settings_file(tmp_path, monkeypatch):
    """Never read or write the real user's settings."""
    monkeypatch.setenv(svr.SETTINGS_ENV, str(tmp_path / "settings" / "resolve.json"))


# -- timelines as Resolve exports them, and results as SonicVision writes them ---------------


def resolve_export(rate: float, start: int, frames: int = 2400, sfx: tuple = ()) -> str:
    """An OTIO export as Resolve writes it: start timecode, a picture track, optional markers."""
    timeline = otio.schema.Timeline(name="Reel 2 cut", global_start_time=RT(start, rate))
    video = otio.schema.Track(name="Video 1", kind=otio.schema.TrackKind.Video)
    video.append(otio.schema.Gap(duration=RT(frames, rate)))
    timeline.tracks.append(video)
    for text, frame, length in sfx:
        span = TR(RT(frame, rate), RT(length, rate))
        marker = otio.schema.Marker(name="Marker", marked_range=span)
        marker.metadata["Resolve_OTIO"] = {"Note": f"SFX: {text}"}
        timeline.tracks.markers.append(marker)
    return otio.adapters.write_to_string(timeline, "otio_json")


def wav(path: Path, seconds: float, channels: int) -> Path:
    samples = int(seconds * 48_000)
    tone = 0.1 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 48_000).astype(np.float32)
    sf.write(str(path), np.repeat(tone[:, None], channels, axis=1), 48_000, subtype="PCM_24")
    return path


def sound(folder, rate, text, frame, length, onscreen, cue, channels=2) -> SoundClip:
    event = SoundEvent(
        text=text,
        start=RT(frame, rate),
        end=RT(frame + length, rate),
        onscreen=onscreen,
        origin=Origin.DETECTED if onscreen else Origin.MARKER,
        cue_id=cue,
        shot_index=0 if onscreen else None,
    )
    path = wav(folder / f"{cue}.wav", length / rate + 0.05, channels)
    return SoundClip(
        event, path, TR(RT(frame, rate), RT(length, rate)), "onscreen" if onscreen else "offscreen"
    )


def result_file(folder: Path, rate: float, start: int, at: int) -> Path:
    """A result as the pipeline writes it: two overlapping on-screen sounds (two lanes, one of
    them mono), one off-screen sound, cue markers for the on-screen ones."""
    base = otio.adapters.read_from_string(resolve_export(rate, start), "otio_json")
    clips = [
        sound(folder, rate, "door slam", at, 12, True, "s0e0"),
        sound(folder, rate, "glass set down", at + 6, 24, True, "s1e0", channels=1),
        sound(folder, rate, "distant traffic", at + 760, 96, False, "m0"),
    ]
    cues = [CueMarker(c.event, TR(c.event.start, c.event.duration)) for c in clips[:2]]
    result = add_sound_tracks(base, clips, cues)
    path = folder / "Reel_2_cut_foley.otio"
    otio.adapters.write_to_file(result, str(path))
    return path


def placed_run(monkeypatch, tmp_path, fake: Resolve, result: Path, **settings):
    """``run`` with the pass replaced by a finished result (the placement under test)."""
    seen = {}

    def finished(settings_, exported, run_dir, progress):
        seen["exported"] = Path(exported).read_text()
        return result

    monkeypatch.setattr(svr, "run_local", finished)
    options = svr.Settings(output_dir=str(tmp_path / "out"), **settings)
    outcome = svr.run(fake, options, write=lambda text: None)
    return outcome, seen


# -- exact calls per frame rate --------------------------------------------------------------

CASES = [
    # Resolve's setting, the rate in the OTIO, start frame of 01:00:00:00, first sound's frame
    pytest.param("23.976", 23.976, 86400, 240, id="23.976@01:00:00:00"),
    pytest.param("25", 25.0, 90000, 250, id="25@01:00:00:00"),
    # 00:01:00;02 in drop-frame is frame 1800; 01:00:00;00 DF is frame 107892
    pytest.param("29.97 DF", 30000 / 1001, 107892, 1800, id="29.97DF@01:00:00;00"),
]


@pytest.mark.parametrize(("setting", "rate", "start", "at"), CASES)
def test_exact_calls_for_a_result(monkeypatch, tmp_path, setting, rate, start, at):
    result = result_file(tmp_path, rate, start, at)
    fake = Resolve(rate=setting, start_frame=start, duration=4000, export_text="exported")
    outcome, seen = placed_run(monkeypatch, tmp_path, fake, result)
    assert outcome.ok, outcome.message
    assert seen["exported"] == "exported"
    ((path, kind, subtype),) = fake.rec.named("Export")
    assert path.endswith("Reel_2_cut.otio") and (kind, subtype) == (22, 0)

    assert fake.rec.named("AddTrack") == [
        ("audio", "stereo"),
        ("audio", "mono"),
        ("audio", "stereo"),
    ]
    assert fake.rec.named("SetTrackName") == [
        ("audio", 2, "SV On-screen Foley"),
        ("audio", 3, "SV On-screen Foley 2"),
        ("audio", 4, "SV Off-screen"),
    ]
    appended = fake.rec.named("AppendToTimeline")
    items = {i.path: i for i in fake.project.media_pool.root.subfolders[0].clips}
    expected = [
        ("s0e0.wav", 12, 2, at),
        ("s1e0.wav", 24, 3, at + 6),
        ("m0.wav", 96, 4, at + 760),
    ]
    assert len(appended) == 3
    for (infos,), (name, length, track, frame) in zip(appended, expected, strict=True):
        assert infos == [
            {
                "mediaPoolItem": items[str(tmp_path / name)],
                "startFrame": 0,
                "endFrame": length,
                "trackIndex": track,
                "recordFrame": start + frame,
                "mediaType": 2,
            }
        ]
    assert fake.rec.named("AddMarker") == [
        (at, "Cyan", "SV CUE: door slam", "door slam", 12, "sonicvision:s0e0"),
        (at + 6, "Cyan", "SV CUE: glass set down", "glass set down", 24, "sonicvision:s1e0"),
    ]
    assert fake.rec.named("ImportMedia") == [
        ([str(tmp_path / "s0e0.wav"), str(tmp_path / "s1e0.wav"), str(tmp_path / "m0.wav")],)
    ]
    snap = fake.snapshot()
    assert [t[0] for t in snap["tracks"]] == [
        "Audio 1",
        "SV On-screen Foley",
        "SV On-screen Foley 2",
        "SV Off-screen",
    ]
    assert snap["tracks"][3][2] == [(start + at + 760, start + at + 856, str(tmp_path / "m0.wav"))]
    assert snap["bins"]["sub"][0]["name"] == "SonicVision"
    assert snap["current_folder"] == "Master"  # the editor's bin is current again
    assert "3 clips on 3 audio tracks" in outcome.message and "2 cue markers" in outcome.message


def test_frame_math():
    ntsc = Fraction(24000, 1001)
    assert svr.parse_rate("23.976") == ntsc
    assert svr.parse_rate("29.97 DF") == Fraction(30000, 1001)
    assert svr.parse_rate("59.94 NDF") == Fraction(60000, 1001)
    assert svr.parse_rate("29.97DF") == Fraction(30000, 1001)
    assert svr.parse_rate("25") == 25 and svr.parse_rate("24000/1001") == ntsc
    with pytest.raises(svr.PluginError):
        svr.parse_rate("fast")
    # the timeline's own rate, written either way, keeps the frame count
    assert svr.to_frames(RT(240, 23.976), ntsc) == 240
    assert svr.to_frames(RT(240, 24000 / 1001), ntsc) == 240
    # half a frame rounds up, not to even
    assert svr.to_frames(RT(10.5, 25), Fraction(25)) == 11
    assert svr.to_frames(RT(12.5, 25), Fraction(25)) == 13
    # another rate is rescaled exactly: one NTSC frame in 1/24000 s units
    assert svr.to_frames(RT(1001, 24000), ntsc) == 1
    assert svr.to_frames(RT(48, 48), Fraction(25)) == 25
    assert svr.end_frame(100, 24) == 124  # Resolve's end frame is exclusive


# -- all or nothing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "nth", "says"),
    [
        ("AppendToTimeline", 2, "placed 0 of 1 clips"),
        ("AddMarker", 2, "cue marker"),
        ("AddTrack", 3, "audio track"),
        ("ImportMedia", 1, "imported 0 of 3"),
        ("AddSubFolder", 1, "bin"),
    ],
)
def test_failure_midway_takes_everything_back(monkeypatch, tmp_path, method, nth, says):
    result = result_file(tmp_path, 24.0, 86400, 100)
    fake = Resolve(rate="24", start_frame=86400, export_text="x")
    fake.timeline.markers[5] = {
        "color": "Red",
        "duration": 1,
        "note": "editor's",
        "name": "keep me",
        "customData": "",
    }
    before = fake.snapshot()
    fake.rec.fail_on(method, nth)
    outcome, _ = placed_run(monkeypatch, tmp_path, fake, result)
    assert not outcome.ok
    assert says in outcome.message and "Nothing was added" in outcome.message
    assert fake.snapshot() == before
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_rollback_keeps_a_bin_that_was_already_there(monkeypatch, tmp_path):
    result = result_file(tmp_path, 24.0, 86400, 100)
    fake = Resolve(rate="24", start_frame=86400, export_text="x")
    pool = fake.project.media_pool
    existing = pool.AddSubFolder(pool.root, "SonicVision")
    editor_wav = wav(tmp_path / "editor.wav", 1.0, 2)
    pool.SetCurrentFolder(existing)
    pool.ImportMedia([str(editor_wav)])
    pool.SetCurrentFolder(pool.root)
    before = fake.snapshot()
    fake.rec.fail_on("AddMarker", 1)
    outcome, _ = placed_run(monkeypatch, tmp_path, fake, result)
    assert not outcome.ok and fake.snapshot() == before
    assert "DeleteFolders" not in fake.rec.mutating()


def test_what_cannot_be_taken_back_is_named(monkeypatch, tmp_path):
    result = result_file(tmp_path, 24.0, 86400, 100)
    fake = Resolve(rate="24", start_frame=86400, export_text="x")
    fake.rec.fail_on("AddMarker", 1)
    fake.rec.fail_on("DeleteTrack", 1)  # the last track added: 'SV Off-screen'
    outcome, _ = placed_run(monkeypatch, tmp_path, fake, result)
    assert not outcome.ok
    assert "Could not take back: audio track 'SV Off-screen'" in outcome.message
    assert any((tmp_path / "out").iterdir())  # the files stay while Resolve still uses them


def test_cues_already_on_the_timeline_are_not_doubled(monkeypatch, tmp_path):
    result = result_file(tmp_path, 24.0, 86400, 100)
    fake = Resolve(rate="24", start_frame=86400, export_text="x")
    fake.timeline.markers[100] = {
        "color": "Cyan",
        "duration": 12,
        "note": "door slam",
        "name": "SV CUE: door slam",
        "customData": "sonicvision:s0e0",
    }
    fake.timeline.markers[106] = {
        "color": "Blue",
        "duration": 1,
        "note": "",
        "name": "editor marker",
        "customData": "",
    }
    outcome, _ = placed_run(monkeypatch, tmp_path, fake, result)
    assert outcome.ok
    assert fake.rec.named("AddMarker") == []
    assert "already on the timeline" in outcome.message
    assert "a marker already sits at frame 106" in outcome.message


def test_result_as_a_new_timeline(monkeypatch, tmp_path):
    result = result_file(tmp_path, 25.0, 90000, 100)
    fake = Resolve(rate="25", start_frame=90000, export_text="x")
    outcome, _ = placed_run(monkeypatch, tmp_path, fake, result, new_timeline=True)
    assert outcome.ok, outcome.message
    ((path, options),) = fake.rec.named("ImportTimelineFromFile")
    assert path == str(result) and options["importSourceClips"] is True
    assert options["timelineName"].startswith("Reel 2 cut SonicVision foley")
    assert fake.project.current.name == options["timelineName"]
    assert fake.rec.named("AddTrack") == [] and fake.rec.named("AppendToTimeline") == []


def test_new_timeline_failure_takes_it_back(monkeypatch, tmp_path):
    result = result_file(tmp_path, 25.0, 90000, 100)
    fake = Resolve(rate="25", start_frame=90000, export_text="x")
    before = fake.snapshot()
    fake.rec.fail_on("ImportTimelineFromFile", 1)
    outcome, _ = placed_run(monkeypatch, tmp_path, fake, result, new_timeline=True)
    assert not outcome.ok and "would not import" in outcome.message
    assert fake.snapshot() == before


# -- nothing to work on ----------------------------------------------------------------------


def test_no_timeline_open_is_a_message_and_no_calls(tmp_path):
    fake = Resolve(timeline=False)
    outcome = svr.run(fake, svr.Settings(output_dir=str(tmp_path / "out")), write=lambda t: None)
    assert not outcome.ok and "No timeline is open" in outcome.message
    assert [name for name, _ in fake.rec.calls] == [
        "GetProjectManager",
        "GetCurrentProject",
        "GetCurrentTimeline",
    ]
    assert not (tmp_path / "out").exists()


def test_no_project_open(tmp_path):
    fake = Resolve(project=False)
    outcome = svr.run(fake, svr.Settings(output_dir=str(tmp_path / "out")), write=lambda t: None)
    assert not outcome.ok and "No project is open" in outcome.message
    assert fake.rec.mutating() == []


def test_export_refused_changes_nothing(tmp_path):
    fake = Resolve(export_text="x")
    fake.rec.fail_on("Export", 1)
    outcome = svr.run(fake, svr.Settings(output_dir=str(tmp_path / "out")), write=lambda t: None)
    assert not outcome.ok and "could not export" in outcome.message
    assert fake.rec.mutating() == ["Export"]


# -- the real passes: here, and on a server ---------------------------------------------------


def test_local_run_places_the_rendered_sound(tmp_path):
    text = resolve_export(24.0, 86400, sfx=[("door slam", 10, 24)])
    fake = Resolve(rate="24", start_frame=86400, export_text=text)
    lines = []
    outcome = svr.run(fake, svr.Settings(output_dir=str(tmp_path / "out")), write=lines.append)
    assert outcome.ok, outcome.message
    ((infos,),) = fake.rec.named("AppendToTimeline")
    channels = sf.info(infos[0]["mediaPoolItem"].path).channels
    assert fake.rec.named("AddTrack") == [("audio", "mono" if channels == 1 else "stereo")]
    assert infos[0]["recordFrame"] == 86400 + 10 and infos[0]["endFrame"] == 24
    assert Path(infos[0]["mediaPoolItem"].path).is_relative_to(tmp_path / "out")
    assert any(line.startswith("SonicVision: render") for line in lines)
    assert outcome.result.is_relative_to(tmp_path / "out")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with run_server(data_dir=tmp_path_factory.mktemp("resolve-server")) as port:
        address = f"127.0.0.1:{port}"
        wait_serving(address)
        yield address


def test_server_run_places_the_fetched_sound(tmp_path, server):
    text = resolve_export(23.976, 86400, sfx=[("dog barks off", 48, 48)])
    fake = Resolve(rate="23.976", start_frame=86400, export_text=text)
    settings = svr.Settings(server=server, output_dir=str(tmp_path / "out"))
    outcome = svr.run(fake, settings, write=lambda t: None)
    assert outcome.ok, outcome.message
    ((infos,),) = fake.rec.named("AppendToTimeline")
    assert infos[0]["recordFrame"] == 86400 + 48 and infos[0]["endFrame"] == 48
    fetched = Path(infos[0]["mediaPoolItem"].path)
    assert fetched.is_file() and fetched.is_relative_to(tmp_path / "out")


def test_failed_job_is_a_message_and_nothing_added(tmp_path, server):
    text = timeline_with_media(tmp_path / "cut.otio", tmp_path / "missing.mov").decode()
    fake = Resolve(export_text=text)
    settings = svr.Settings(server=server, output_dir=str(tmp_path / "out"))
    outcome = svr.run(fake, settings, write=lambda t: None)
    assert not outcome.ok
    assert "failed" in outcome.message and "Nothing was added" in outcome.message
    assert fake.rec.mutating() == ["Export"]


def test_remote_mode_reaches_a_tls_server_with_a_ca_and_a_token_file(tmp_path):
    cert, key = make_test_certificate(tmp_path)
    (tmp_path / "token.txt").write_text("resolve-token\n")
    with run_server(
        data_dir=tmp_path / "data", token="resolve-token", tls_cert=cert, tls_key=key
    ) as port:
        text = resolve_export(24.0, 86400, sfx=[("door slam", 24, 24)])
        base = dict(server=f"localhost:{port}", output_dir=str(tmp_path / "out"))
        fake = Resolve(export_text=text)
        secure = svr.Settings(**base, tls_ca=str(cert), token_file=str(tmp_path / "token.txt"))
        outcome = svr.run(fake, secure, write=lambda t: None)
        assert outcome.ok, outcome.message
        ((infos,),) = fake.rec.named("AppendToTimeline")
        assert Path(infos[0]["mediaPoolItem"].path).is_file()
        refused = svr.run(
            Resolve(export_text=text), svr.Settings(**base, tls_ca=str(cert)), write=lambda t: None
        )
        assert not refused.ok and "UNAUTHENTICATED" in refused.message
        (tmp_path / "other").mkdir()
        other_ca, _ = make_test_certificate(tmp_path / "other")
        wrong = svr.Settings(**base, tls_ca=str(other_ca), token_file=str(tmp_path / "token.txt"))
        mistrusted = svr.run(Resolve(export_text=text), wrong, write=lambda t: None)
        assert not mistrusted.ok and "TLS connection" in mistrusted.message


def test_server_down_is_a_message_and_nothing_added(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nobody listens there
    fake = Resolve(export_text=resolve_export(24.0, 86400, sfx=[("tap", 1, 2)]))
    settings = svr.Settings(server=f"127.0.0.1:{port}", output_dir=str(tmp_path / "out"))
    outcome = svr.run(fake, settings, write=lambda t: None)
    assert not outcome.ok
    assert "not reachable" in outcome.message and "sonicvision serve" in outcome.message
    assert fake.rec.mutating() == ["Export"]
    assert not any((tmp_path / "out").iterdir())


# -- settings, dialog, entry points ------------------------------------------------------------


def test_settings_round_trip_and_bad_values(tmp_path):
    path = tmp_path / "s.json"
    assert svr.Settings.load(path) == svr.Settings()
    svr.Settings(server="gpu:50051", job_pass="render", marker_prefix="FX:").save(path)
    loaded = svr.Settings.load(path)
    assert (loaded.server, loaded.job_pass, loaded.marker_prefix) == ("gpu:50051", "render", "FX:")
    path.write_text(json.dumps({"job_pass": "mix", "future_key": 1}))
    with pytest.raises(svr.PluginError, match="Unknown pass 'mix'"):
        svr.Settings.load(path)
    path.write_text("{broken")
    with pytest.raises(svr.PluginError, match="Cannot read"):
        svr.Settings.load(path)


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), "0.5", True, None])
def test_min_confidence_out_of_range_is_named(tmp_path, bad):
    path = tmp_path / "s.json"
    svr.Settings(min_confidence=0.4).save(path)
    assert svr.Settings.load(path).min_confidence == 0.4
    path.write_text(json.dumps({"min_confidence": bad}))
    with pytest.raises(svr.PluginError, match=r"Least confidence \(min_confidence\).*0 to 1"):
        svr.Settings.load(path)
    for edge in (0, 1):
        assert svr.Settings(min_confidence=edge).check().min_confidence == edge


def test_min_confidence_reaches_the_local_run_and_the_server_request(monkeypatch, tmp_path):
    from sonicvision.server import pipeline
    from sonicvision.server.service.client import SonicVisionClient
    from sonicvision.server.service.wire import options_from_message

    seen = []
    monkeypatch.setattr(pipeline, "run", lambda *a, **k: seen.append(a[3]) or 1 / 0)
    settings = svr.Settings(min_confidence=0.35, guide_audio="off")
    with pytest.raises(ZeroDivisionError):
        svr.run_local(settings, tmp_path / "cut.otio", tmp_path, progress=None)
    assert seen[0].min_confidence == 0.35 and seen[0].guide_audio == "off"

    sent = []

    def submit(self, **kwargs):
        sent.append(kwargs["options"])
        raise svr.PluginError("stop here")

    monkeypatch.setattr(SonicVisionClient, "submit", submit)
    exported = tmp_path / "cut.otio"
    exported.write_text("{}")
    remote = dataclasses.replace(settings, server="127.0.0.1:1")
    with pytest.raises(svr.PluginError, match="stop here"):
        svr.run_remote(remote, exported, tmp_path, progress=None)
    (message,) = sent
    assert message.HasField("min_confidence") and message.min_confidence == 0.35
    assert options_from_message(message)[0].min_confidence == 0.35


class FakeItem:
    def __init__(self, props: dict) -> None:
        self.__dict__.update({"Text": "", "Checked": False, "CurrentIndex": 0, **props})
        self.options: list[str] = []

    def AddItem(self, text: str) -> None:
        self.options.append(text)


class FakeWindow:
    def __init__(self, props, layout, items) -> None:
        self.props, self.items = props, items
        self.On = types.SimpleNamespace()
        for key in [*items, props["ID"]]:
            setattr(self.On, key, types.SimpleNamespace())

    def GetItems(self):
        return self.items

    def Show(self) -> None:
        pass

    def Hide(self) -> None:
        pass


class FakeUI:
    """Fusion's UIManager: element factories whose IDs the window collects."""

    def __init__(self) -> None:
        self.items: dict[str, FakeItem] = {}

    def _element(self, props: dict):
        item = FakeItem(props)
        if "ID" in props:
            self.items[props["ID"]] = item
        return item

    Label = LineEdit = ComboBox = CheckBox = Button = _element

    def VGroup(self, children):
        return children

    HGroup = VGroup


class FakeBmd:
    """``bmd.UIDispatcher``: RunLoop plays the editor's part (``act``) then returns."""

    def __init__(self, act) -> None:
        self.act, self.windows = act, []

    def UIDispatcher(self, ui: FakeUI):
        bmd = self

        class Dispatcher:
            def AddWindow(self, props, layout):
                window = FakeWindow(props, layout, dict(ui.items))
                ui.items.clear()
                bmd.windows.append(window)
                return window

            def RunLoop(self):
                bmd.act(bmd.windows[-1])

            def ExitLoop(self):
                pass

        return Dispatcher()


def test_dialog_choices_are_used_and_saved(monkeypatch, tmp_path):
    def editor(window):
        if window.props["ID"] == "SVFoley":
            items = window.items
            assert items["Pass"].options == ["foley", "analyze", "render"]
            items["Server"].Text = "  gpu-box:50051 "
            items["Pass"].CurrentIndex = 2
            assert items["GuideAudio"].options == ["auto", "off", "only"]
            items["GuideAudio"].CurrentIndex = 1
            assert items["MinConfidence"].Text == "0"  # the saved value, shown
            items["MinConfidence"].Text = " 0.5 "
            items["Prefix"].Text = "FX:"
            items["NewTimeline"].Checked = True
            window.On.Run.Clicked(None)
        else:
            window.On.OK.Clicked(None)

    seen = {}

    def fake_run(resolve, settings, write=print):
        seen["settings"] = settings
        return svr.Outcome(True, "done")

    monkeypatch.setattr(svr, "run", fake_run)
    fusion = types.SimpleNamespace(UIManager=FakeUI())
    bmd = FakeBmd(editor)
    code = svr.main([], resolve=Resolve(), fusion=fusion, bmd=bmd, write=lambda t: None)
    assert code == 0
    chosen = seen["settings"]
    assert (chosen.server, chosen.job_pass, chosen.marker_prefix, chosen.new_timeline) == (
        "gpu-box:50051",
        "render",
        "FX:",
        True,
    )
    assert chosen.guide_audio == "off" and svr._options(chosen).guide_audio == "off"
    assert chosen.min_confidence == 0.5 and svr._options(chosen).min_confidence == 0.5
    saved = json.loads(Path(svr.settings_path()).read_text())
    assert saved["server"] == "gpu-box:50051" and saved["job_pass"] == "render"
    assert saved["min_confidence"] == 0.5
    assert bmd.windows[-1].items["Text"].Text == "done"  # the result is shown


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("half", "Least confidence 'half' is not a number"),
        ("1.2", "Least confidence 1.2 is outside 0 to 1"),
    ],
)
def test_dialog_bad_least_confidence_is_named_and_nothing_runs(monkeypatch, typed, says):
    def editor(window):
        if window.props["ID"] == "SVFoley":
            window.items["MinConfidence"].Text = typed
            window.On.Run.Clicked(None)
        else:
            window.On.OK.Clicked(None)

    monkeypatch.setattr(svr, "run", lambda *a, **k: pytest.fail("ran with a bad confidence"))
    fusion = types.SimpleNamespace(UIManager=FakeUI())
    bmd = FakeBmd(editor)
    fake, lines = Resolve(), []
    assert svr.main([], resolve=fake, fusion=fusion, bmd=bmd, write=lines.append) == 2
    assert lines[-1].startswith(says) and bmd.windows[-1].items["Text"].Text == lines[-1]
    assert fake.rec.calls == [] and not Path(svr.settings_path()).exists()


def test_min_confidence_flag_overrides_the_saved_settings(monkeypatch, tmp_path):
    svr.Settings(min_confidence=0.2).save()
    seen = []
    monkeypatch.setattr(
        svr, "run", lambda r, s, write=print: seen.append(s) or svr.Outcome(True, "")
    )
    assert svr.main(["--min-confidence", "0.7"], resolve=Resolve(), write=lambda t: None) == 0
    assert seen[-1].min_confidence == 0.7
    lines = []
    assert svr.main(["--min-confidence", "2"], resolve=Resolve(), write=lines.append) == 2
    assert "Least confidence (min_confidence) is 2.0" in lines[-1] and len(seen) == 1


def test_dialog_cancel_changes_nothing(monkeypatch):
    fusion = types.SimpleNamespace(UIManager=FakeUI())
    bmd = FakeBmd(lambda window: window.On.Cancel.Clicked(None))
    fake = Resolve()
    assert svr.main([], resolve=fake, fusion=fusion, bmd=bmd, write=lambda t: None) == 1
    assert fake.rec.calls == [] and not Path(svr.settings_path()).exists()


def test_standalone_uses_saved_settings_and_reports_no_resolve(monkeypatch, tmp_path):
    svr.Settings(output_dir=str(tmp_path / "out"), job_pass="analyze").save()
    fake_module = types.ModuleType("DaVinciResolveScript")
    fake_module.scriptapp = lambda name: None
    monkeypatch.setitem(sys.modules, "DaVinciResolveScript", fake_module)
    lines = []
    assert svr.main([], write=lines.append) == 2
    assert "Resolve is not running" in lines[-1] and "Studio" in lines[-1]

    fake = Resolve(timeline=False)
    fake_module.scriptapp = lambda name: fake if name == "Resolve" else None
    assert svr.main(["--server", "local"], write=lines.append) == 2
    assert "No timeline is open" in lines[-1]


def test_the_menu_script_finds_its_module_and_runs(tmp_path):
    svr.Settings(output_dir=str(tmp_path / "out")).save()
    text = resolve_export(25.0, 90000, sfx=[("thunder", 25, 50)])
    fake = Resolve(rate="25", start_frame=90000, export_text=text)
    runpy.run_path(str(RESOLVE_DIR / "SonicVision Foley.py"), {"resolve": fake}, "sv_menu")
    ((infos,),) = fake.rec.named("AppendToTimeline")
    assert infos[0]["recordFrame"] == 90000 + 25


def test_mutating_calls_list_is_complete():
    # Every fake method that changes state must be in MUTATING, or "no calls" proves nothing.
    import resolve_fake

    for cls in (resolve_fake.Timeline, resolve_fake.MediaPool, resolve_fake.Project):
        for name in dir(cls):
            if name.startswith(("Add", "Delete", "Set", "Import", "Append", "Export")):
                assert name in MUTATING or name == "SetCurrentFolder", name


# -- install / uninstall ---------------------------------------------------------------------


def test_install_and_uninstall_resolve(tmp_path, capsys):
    dest = tmp_path / "Utility"
    dest.mkdir()
    (dest / "someone_elses.py").write_text("print('hi')")
    parser = install.argparse.ArgumentParser()
    install.install_options(parser)
    assert install.cmd_install(parser.parse_args(["resolve", "--dest", str(dest)])) == 0
    out = capsys.readouterr().out
    assert str(dest) in out
    for name in ("SonicVision Foley.py", "sonicvision_resolve.py"):
        assert (dest / name).read_bytes() == (RESOLVE_DIR / name).read_bytes()
    manifest = json.loads((dest / install.MANIFEST).read_text())
    assert sorted(manifest["files"]) == ["SonicVision Foley.py", "sonicvision_resolve.py"]
    assert manifest["sys_path"]
    # again: same files, nothing refused
    assert install.cmd_install(parser.parse_args(["resolve", "--dest", str(dest)])) == 0

    args = parser.parse_args(["resolve", "--dest", str(dest), "--uninstall"])
    assert install.cmd_install(args) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["someone_elses.py"]


def test_uninstall_leaves_changed_files_and_install_never_replaces_foreign_ones(tmp_path):
    dest = tmp_path / "Utility"
    install.install_resolve(dest)
    (dest / "sonicvision_resolve.py").write_text("# edited by hand\n")
    removed, kept = install.uninstall(dest)
    assert [p.name for p in removed] == ["SonicVision Foley.py"]
    assert [p.name for p in kept] == ["sonicvision_resolve.py"]
    assert (dest / "sonicvision_resolve.py").read_text() == "# edited by hand\n"

    other = tmp_path / "Other"
    other.mkdir()
    (other / "SonicVision Foley.py").write_text("# not ours\n")
    with pytest.raises(install.InstallError, match="not replaced"):
        install.install_resolve(other)
    assert (other / "SonicVision Foley.py").read_text() == "# not ours\n"
    assert not (other / "sonicvision_resolve.py").exists()
    with pytest.raises(install.InstallError, match="nothing"):
        install.uninstall(tmp_path / "empty")


@pytest.mark.parametrize(
    ("platform", "env", "tail"),
    [
        ("darwin", {}, "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion"),
        ("win32", {"APPDATA": "/appdata"}, "Blackmagic Design/DaVinci Resolve/Support/Fusion"),
        ("linux", {}, ".local/share/DaVinciResolve/Fusion"),
    ],
)
def test_default_resolve_folder_per_os(platform, env, tail):
    folder = install.resolve_scripts_dir(platform, env, Path("/home/ed"))
    assert folder.as_posix().endswith(tail + "/Scripts/Utility")


def test_premiere_install_copies_the_panel_and_uninstalls_it(tmp_path, capsys):
    parser = install.argparse.ArgumentParser()
    install.install_options(parser)
    assert install.cmd_install(parser.parse_args(["premiere"])) == 0
    out = capsys.readouterr().out
    assert "UXP Developer Tool" in out and "manifest.json" in out
    dest = tmp_path / "plugins"
    assert install.cmd_install(parser.parse_args(["premiere", "--dest", str(dest)])) == 0
    panel = dest / install.PREMIERE_FOLDER
    assert json.loads((panel / "manifest.json").read_text())["manifestVersion"] == 5
    assert (panel / "lib" / "ticks.js").is_file() and not (panel / "test").exists()
    args = parser.parse_args(["premiere", "--dest", str(dest), "--uninstall"])
    assert install.cmd_install(args) == 0
    assert not panel.exists() and dest.is_dir()
