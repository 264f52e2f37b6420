"""The command as a user meets it: clear refusals before any work, nothing half-written."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from sonicvision.cli import build_parser, main
from sonicvision.errors import SonicVisionError
from sonicvision.server.options import FoleyOptions
from sonicvision.server.pipeline import default_audio_dir, foley
from sonicvision.server.testing.cuts import cut_with_events


def test_version_and_verbose_after_the_subcommand(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and "sonicvision" in capsys.readouterr().out
    args = build_parser().parse_args(["shots", "cut.otio", "-v", "-v"])
    assert args.verbose == 2
    assert build_parser().parse_args(["-v", "shots", "cut.otio"]).verbose == 1


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["analyze", "cut.otio", "-o", "x.otio", "--no-cues"], "--no-cues"),  # analyze writes cues
        (["analyze", "cut.otio", "-o", "x.otio", "--generator", "procedural"], "--generator"),
        (["render", "cut.otio", "-o", "x.otio", "--detector", "motion"], "--detector"),
    ],
)
def test_options_a_pass_ignores_are_refused(argv, option, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2 and option in capsys.readouterr().err


def test_help_shows_defaults_and_every_backend(capsys):
    with pytest.raises(SystemExit):
        main(["foley", "--help"])
    text = capsys.readouterr().out
    for name in ("motion", "r2plus1d", "none", "vlm", "procedural", "library", "ldm"):
        assert name in text
    assert "(default: -20.0)" in text


@pytest.mark.parametrize(
    "option",
    [["--seed", "-1"], ["--seed", str(2**40)], ["--marker-seconds", "0"], ["--target-lufs", "nan"]],
)
def test_out_of_range_numbers_are_one_clear_line(option, tmp_path, capsys):
    cut, _ = cut_with_events(tmp_path, Fraction(25))
    before = sorted(os.listdir(tmp_path))
    assert main(["foley", str(cut), "-o", str(tmp_path / "out.otio"), *option]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == before


def test_an_audio_folder_that_is_a_file_is_refused_before_any_work(tmp_path, capsys):
    cut, _ = cut_with_events(tmp_path, Fraction(25))
    (tmp_path / "wavs").write_text("not a folder")
    before = sorted(os.listdir(tmp_path))
    argv = [
        "foley",
        str(cut),
        "-o",
        str(tmp_path / "out.otio"),
        "--audio-dir",
        str(tmp_path / "wavs"),
    ]
    assert main(argv) == 2
    assert "audio folder is a file" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == before


def test_an_interrupted_render_leaves_no_wavs(tmp_path, monkeypatch):
    from sonicvision.server import pipeline

    cut, _ = cut_with_events(tmp_path, Fraction(25))
    real, calls = pipeline.render_clip, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "render_clip", interrupted)
    with pytest.raises(KeyboardInterrupt):
        foley(cut, tmp_path / "out.otio", FoleyOptions())
    assert len(calls) == 3  # two WAVs had been written
    assert not (tmp_path / "out_audio").exists()
    assert not (tmp_path / "out.otio").exists()


def test_a_result_in_another_folder_keeps_its_picture_online(tmp_path):
    cut, _ = cut_with_events(tmp_path, Fraction(25))
    (tmp_path / "results").mkdir()
    for name in ("out.otio", "out.xml"):
        result = foley(cut, tmp_path / "results" / name, FoleyOptions())
        timeline = otio.adapters.read_from_file(str(result.output))
        for clip in timeline.video_tracks()[0].find_clips():
            url = clip.media_reference.target_url
            path = otio.url_utils.filepath_from_url(url) if "://" in url else url
            found = Path(path) if Path(path).is_absolute() else result.output.parent / path
            assert found.resolve().is_file(), (name, url)


def test_otio_and_xml_results_of_one_input_do_not_share_an_audio_folder(tmp_path):
    assert default_audio_dir(tmp_path / "cut_foley.otio") == tmp_path / "cut_foley_audio"
    assert default_audio_dir(tmp_path / "cut_foley.xml") != default_audio_dir(
        tmp_path / "cut_foley.otio"
    )


def test_errors_are_sonicvision_errors():
    with pytest.raises(SonicVisionError, match="seed"):
        FoleyOptions(seed=-3).check()


def test_train_without_the_model_stack_is_one_clear_line(monkeypatch, capsys, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name.split(".")[0] == "torch" or name.startswith("sonicvision.server.train"):
            raise ImportError("No module named 'torch'", name="torch")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    argv = [
        "train",
        "adapter",
        "--base",
        str(tmp_path),
        "--data",
        str(tmp_path),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "sonicvision[gpu]" in err and "Traceback" not in err


def test_progress_moves_inside_a_clip(tmp_path):
    from sonicvision.adapters.io import read_timeline
    from sonicvision.adapters.media import MediaResolver
    from sonicvision.server.pipeline import find_events

    cut, _ = cut_with_events(tmp_path, Fraction(25))
    timeline = read_timeline(cut)
    del timeline.tracks[0][1:]  # one clip: progress must move within it
    seen = []
    find_events(timeline, MediaResolver(cut), FoleyOptions(), lambda *a: seen.append(a))
    shots = [(done, total) for stage, done, total in seen if stage == "shots"]
    assert len({done for done, _ in shots}) > 3 and shots[-1][0] == shots[-1][1]
    assert all(a <= b for (a, _), (b, _) in zip(shots, shots[1:], strict=False))


def test_the_motion_detector_takes_its_options_in_its_spec(tmp_path, capsys):
    from sonicvision.server.backends import build_detector

    detector = build_detector("motion:min_confidence=0.5,small_objects=0")
    assert (detector.config.min_confidence, detector.config.small_objects) == (0.5, False)
    cut, _ = cut_with_events(tmp_path, Fraction(25))
    argv = [
        "analyze",
        str(cut),
        "-o",
        str(tmp_path / "x.otio"),
        "--detector",
        "motion:min_confidence=2",
    ]
    assert main(argv) == 2
    assert "min_confidence" in capsys.readouterr().err
