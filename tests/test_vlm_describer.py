"""The VLM describer (paper sec. 3.3): prompt, answer parsing, event mapping, fallback, loading.

Tiny Qwen2.5-VL and Idefics3 (SmolVLM) models are built from configs after a fixed seed, with
an offline byte tokenizer; their answers are garbage, which exercises the fallback. Scripted
answers exercise parsing and mapping end to end.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from sonicvision.errors import ConfigError  # noqa: E402
from sonicvision.events import Shot  # noqa: E402
from sonicvision.server.backends import build_describer, names  # noqa: E402
from sonicvision.server.describe import EmbeddedDescriber  # noqa: E402
from sonicvision.server.describe.vlm import (  # noqa: E402
    TEMPORAL_CUES,
    VLMDescriber,
    assign,
    conversation,
    degenerate,
    parse_sounds,
    sample_indices,
    sound_kind,
)
from sonicvision.server.detect.base import EventInterval  # noqa: E402
from sonicvision.server.models.vlm import LocalVLM, Reply  # noqa: E402
from sonicvision.server.synthetic_scenes import ObjectSpec, SceneSpec, render_scene  # noqa: E402
from sonicvision.server.testing.cuts import one_clip_cut  # noqa: E402
from sonicvision.server.testing.models import idefics3_tiny, qwen25_vl  # noqa: E402

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


def shot(
    index: int = 0, media: Path | None = None, frames: int = 50, name: str = "A001_C003"
) -> Shot:
    return Shot(
        index=index,
        clip_name=name,
        media_path=media,
        source_range=TR(RT(0, 25), RT(frames, 25)),
        record_range=TR(RT(index * 100, 25), RT(frames, 25)),
        first_frame=0,
        frame_count=frames,
        media_rate=25.0,
    )


def impact(onset: int) -> EventInterval:
    return EventInterval(onset, onset + 5, False, 1.0, "impact")


def slide(onset: int) -> EventInterval:
    return EventInterval(onset, onset + 20, True, 1.0, "slide")


def coded_frames(n: int) -> np.ndarray:
    """Frame t is flat grey at level 5 * t, so the order of sampled frames is visible."""
    return np.stack([np.full((36, 64, 3), 5 * t, np.uint8) for t in range(n)])


@dataclass
class ScriptedChat:
    """Stands in for the model: fixed replies, and a record of what it was asked."""

    replies: list[str]
    calls: list[tuple[list, list]]

    def generate(self, conversations, images):
        self.calls.append((list(conversations), [list(row) for row in images]))
        return [Reply(self.replies[i % len(self.replies)], False) for i in range(len(images))]


def scripted(*replies: str) -> ScriptedChat:
    return ScriptedChat(list(replies), [])


# --- the prompt -------------------------------------------------------------------------------


def test_sample_indices_are_evenly_spaced_and_in_order():
    assert sample_indices(20) == [2, 7, 12, 17]
    assert sample_indices(4) == [0, 1, 2, 3]
    assert sample_indices(1) == [0, 0, 0, 0]
    assert sample_indices(2) == [0, 0, 1, 1]
    with pytest.raises(ValueError):
        sample_indices(0)


@pytest.mark.parametrize("family", ["qwen2.5-vl", "idefics3"])
def test_prompt_holds_four_frames_in_order_with_temporal_cues(family):
    torch.manual_seed(0)
    model, processor = qwen25_vl("tiny") if family == "qwen2.5-vl" else idefics3_tiny()
    vlm = LocalVLM(model, processor, max_new_tokens=4)
    describer = VLMDescriber(vlm, frame_size=64)
    images = describer.shot_images(shot(frames=20), coded_frames(20))
    assert [int(i[0, 0, 0]) for i in images] == [10, 35, 60, 85]  # frames 2, 7, 12, 17

    text = vlm.render([conversation(3)])[0]
    token = vlm.image_token
    positions = [text.index(cue) for cue in TEMPORAL_CUES]
    assert positions == sorted(positions)
    for cue, start, end in zip(TEMPORAL_CUES, positions, [*positions[1:], len(text)], strict=True):
        assert text[start:end].count(token) == 1, cue  # each cue is followed by its own image
    assert text.count(token) == 4
    assert "Foley artist" in text and "at most 3" in text
    assert text.index("Finally,") < text.index("Foley artist")

    inputs = vlm.prepare([conversation(3)], [images])
    if family == "idefics3":  # one pixel tensor per image: brightness rises in prompt order
        means = inputs["pixel_values"][0].mean(dim=(1, 2, 3))
        assert torch.all(means[1:] > means[:-1])
    else:  # one (t, h, w) patch grid per image, four images in the batch row
        assert inputs["image_grid_thw"].shape[0] == 4


# --- reading answers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            "1. Footsteps on gravel\n2. A door slams shut\n3. Glass set down on a wooden table",
            ["footsteps on gravel", "a door slams shut", "glass set down on a wooden table"],
        ),
        (
            "- footsteps on gravel\n* door slam\n- Footsteps on gravel",
            ["footsteps on gravel", "door slam"],
        ),
        (
            "Sure! Here are the sounds:\n\n1. **Leather shoes walking on a wooden floor**\n"
            "2. **Keys jingling** (at 0:02)",
            ["leather shoes walking on a wooden floor", "keys jingling"],
        ),
        ('["footsteps on gravel", "door slam"]', ["footsteps on gravel", "door slam"]),
        (
            '```json\n{"sounds": [{"source": "glass", "action": "set down", "material": "wood"},'
            ' {"description": "Door slams"}]}\n```',
            ["glass set down wood", "door slams"],
        ),
        (
            "['a ball bounces on concrete', 'a ball rolls']",
            ["a ball bounces on concrete", "a ball rolls"],
        ),
        ("footsteps, door slam, glass clink", ["footsteps", "door slam", "glass clink"]),
        ("glass, set down, on a wooden table", ["glass set down on a wooden table"]),
        ("1. footsteps 2. door slam 3. glass clink", ["footsteps", "door slam", "glass clink"]),
        (
            "Sound 1: a hammer hits a nail. Sound 2: wood creaks.",
            ["a hammer hits a nail", "wood creaks"],
        ),
        (
            "The sound of a man walking on gravel while the wind blows",
            ["a man walking on gravel"],
        ),
        (
            "a, b, c, d, e, f: 1. one 2. two 3. three 4. four 5. five 6. six",
            ["one", "two", "three", "four"],
        ),
        ("", []),
        ("   \n\n ", []),
        ("None.", []),
        ("I'm sorry, I cannot describe sounds from images.", []),
        ("List the sounds a Foley artist would record, one sound per line", []),
        ("�嘫Ii�\x01Ng�嘫Ii�\x01Ng", []),
        ("xqzt brrr 1234 !!! ###", []),
        ("}||||||||||||||||||||", []),
    ],
)
def test_parse_sounds(answer, expected):
    assert parse_sounds(answer, max_sounds=4) == expected


def test_parse_drops_the_cut_off_item_of_a_truncated_answer():
    assert parse_sounds('["footsteps on gravel", "door sl', 4, truncated=True) == [
        "footsteps on gravel"
    ]
    assert parse_sounds("door slam", 4, truncated=True) == ["door slam"]  # the only one stays
    long = "heavy oak door swings slowly open creaks loudly then bangs hard against old brick walls"
    assert len(parse_sounds(f"1. {long}", 4)[0].split()) == 12


@pytest.mark.parametrize(
    "answer",
    [
        "harm agu harm agu harm agu harm agu harm agu harm agu",  # a random 3B model, greedy
        "1. harm agu harm agu harm agu",
        "door door door door door",
        "la la la la la la la la, la la la la",
    ],
)
def test_looping_answers_are_not_sounds(answer):
    assert degenerate(answer) and parse_sounds(answer, 4) == []


def test_lists_that_repeat_words_are_not_loops():
    answer = "1. footsteps on gravel\n2. footsteps on wood\n3. knock knock on a door"
    assert not degenerate(answer)
    assert parse_sounds(answer, 4) == [
        "footsteps on gravel",
        "footsteps on wood",
        "knock knock on a door",
    ]


def test_sounds_map_to_events_by_kind_then_order():
    assert sound_kind("footsteps on gravel") == "impulsive"
    assert sound_kind("chair scrapes across the floor") == "continuous"
    assert sound_kind("a dog") == "any"
    sounds = ["footsteps on gravel", "chair scrapes across the floor", "door slams"]
    events = [impact(0), impact(10), slide(20), impact(30), impact(40)]
    # impacts take the impulsive sounds in order, spread: 4 impacts over 2 sounds
    assert assign(events, sounds) == [0, 0, 1, 2, 2]
    # no continuous sound: the slide takes from all of them by order
    assert assign([impact(0), slide(10)], ["door slams", "glass clinks"]) == [0, 0]
    assert assign([slide(0), slide(10)], ["door slams", "glass clinks"]) == [0, 1]


# --- the describer ----------------------------------------------------------------------------


def test_scripted_answer_names_the_events():
    chat = scripted("1. Footsteps on gravel\n2. A chair scrapes across the floor")
    describer = VLMDescriber(chat, frame_size=32)
    events = [impact(2), slide(10), impact(30)]
    seconds = [0.08, 0.4, 1.2]
    out = describer.describe(shot(), events, seconds, coded_frames(50))
    assert [(d.text, d.source) for d in out] == [
        ("footsteps on gravel", "vlm"),
        ("a chair scrapes across the floor", "vlm"),
        ("footsteps on gravel", "vlm"),
    ]
    ((conversations, images),) = chat.calls
    assert len(images[0]) == 4 and max(images[0][0].shape[:2]) == 32
    assert conversations[0] == conversation(4)


def test_a_looping_answer_falls_back_and_says_so(caplog):
    chat = scripted("harm agu harm agu harm agu harm agu harm agu harm agu harm agu")
    describer = VLMDescriber(chat, frame_size=32)
    out = describer.describe(shot(), [impact(2), impact(30)], [0.08, 1.2], coded_frames(50))
    assert [d.source for d in out] == ["vlm-fallback", "vlm-fallback"]
    assert all("harm" not in d.text for d in out)
    assert "no usable sound description" in describer.answers[(0, "None", 0, 50)].problem


def test_prefetch_batches_shots_and_describe_reuses_the_answers():
    chat = scripted("door slams")
    describer = VLMDescriber(chat, batch_size=2, frame_size=32)
    shots = [shot(i) for i in range(5)]
    frames = {i: coded_frames(10) for i in range(5)}
    describer.prefetch(shots, frames)
    assert [len(images) for _, images in chat.calls] == [2, 2, 1]
    for s in shots:
        assert describer.describe(s, [impact(1)], [0.04])[0].text == "door slams"
    assert len(chat.calls) == 3  # no second look


def test_describer_reads_four_frames_from_the_media_itself(tmp_path):
    spec = SceneSpec(64, 48, 25, 40, objects=[ObjectSpec("fall", 3, 12)], background="gradient")
    truth = render_scene(spec, tmp_path / "shot.mp4")
    chat = scripted("ball drops on the floor")
    s = shot(media=truth.path, frames=40)
    out = VLMDescriber(chat, frame_size=32).describe(s, [impact(12)], [0.48])
    assert out[0].text == "ball drops on the floor"
    ((_, images),) = chat.calls
    assert len(images[0]) == 4 and images[0][0].shape == (24, 32, 3)  # longest edge 32, RGB
    missing = VLMDescriber(scripted("x"), frame_size=32)
    fallback = missing.describe(shot(media=tmp_path / "gone.mp4"), [impact(1)], [0.04])
    assert fallback[0].source == "vlm-fallback"
    assert "no pictures" in missing.answers[(0, str(tmp_path / "gone.mp4"), 0, 50)].problem


def test_random_tiny_model_answers_garbage_and_falls_back(caplog):
    torch.manual_seed(0)
    model, processor = qwen25_vl("tiny")
    describer = VLMDescriber(LocalVLM(model, processor, max_new_tokens=16), frame_size=48)
    events = [impact(2), slide(25), impact(50)]
    seconds = [0.08, 1.0, 2.0]
    with caplog.at_level(logging.WARNING):
        out = describer.describe(shot(name="door_slam.mov"), events, seconds, coded_frames(50))
    embedded = EmbeddedDescriber().describe(shot(name="door_slam.mov"), events, seconds)
    assert len(out) == 3
    assert [d.source for d in out] == ["vlm-fallback"] * 3
    assert [d.text for d in out] == [d.text for d in embedded]
    (answer,) = describer.answers.values()
    assert answer.answer and not answer.sounds and "no usable" in answer.problem
    assert "embedded describer" in caplog.text


# --- loading ----------------------------------------------------------------------------------


def test_vlm_backend_loads_a_local_folder_with_options(tmp_path):
    torch.manual_seed(0)
    model, processor = qwen25_vl("tiny")
    model.save_pretrained(tmp_path / "tiny-vl")
    processor.save_pretrained(tmp_path / "tiny-vl")
    assert "vlm" in names("describer")
    describer = build_describer(
        f"vlm:{tmp_path / 'tiny-vl'},frame_size=40,max_sounds=2,max_new_tokens=6,device=cpu"
    )
    assert isinstance(describer, VLMDescriber)
    assert (describer.frame_size, describer.max_sounds, describer.chat.max_new_tokens) == (40, 2, 6)
    assert describer.chat.do_sample is False and describer.device == "cpu"
    assert next(describer.chat.model.parameters()).dtype == torch.float32  # bf16 only on GPU
    out = describer.describe(shot(), [impact(2), impact(9)], [0.08, 0.36], coded_frames(12))
    assert len(out) == 2 and {d.source for d in out} == {"vlm-fallback"}

    with pytest.raises(ConfigError, match="unknown option 'frames'.*frame_size"):
        build_describer(f"vlm:{tmp_path / 'tiny-vl'},frames=4")
    with pytest.raises(ConfigError, match="not a valid int"):
        build_describer(f"vlm:{tmp_path / 'tiny-vl'},max_sounds=many")


def test_missing_model_says_how_to_fetch_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError) as err:
        build_describer("vlm:sonicvision-test/no-such-model")
    message = str(err.value)
    assert "sonicvision-test/no-such-model" in message
    assert "huggingface-cli download sonicvision-test/no-such-model" in message
    with pytest.raises(ConfigError, match="folder not found"):
        build_describer(f"vlm:{tmp_path / 'nowhere'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="does not hold a complete transformers"):
        build_describer(f"vlm:{tmp_path / 'empty'}")
    with pytest.raises(ConfigError, match="needs a model"):
        build_describer("vlm")


def test_pipeline_runs_with_both_model_backends(tmp_path):
    """analyze with --detector r2plus1d:CKPT --describer vlm:DIR: events named by the VLM path."""
    from sonicvision.server.models.r2plus1d import DetectorConfig, FrameDetector, save_checkpoint
    from sonicvision.server.options import FoleyOptions
    from sonicvision.server.pipeline import analyze

    torch.manual_seed(0)
    save_checkpoint(
        FrameDetector(DetectorConfig(width=8, frame_size=32, window=16, overlap=4)),
        tmp_path / "det",
    )
    model, processor = qwen25_vl("tiny")
    model.save_pretrained(tmp_path / "vl")
    processor.save_pretrained(tmp_path / "vl")
    spec = SceneSpec(64, 48, 25, 30, objects=[ObjectSpec("fall", 3, 12)], background="gradient")
    render_scene(spec, tmp_path / "drop.mp4")
    one_clip_cut(tmp_path, "drop.mp4", 30)
    options = FoleyOptions(
        detector=f"r2plus1d:{tmp_path / 'det'},threshold=0.01",  # untrained: every frame sounds
        describer=f"vlm:{tmp_path / 'vl'},max_new_tokens=8,frame_size=32",
    )
    result = analyze(tmp_path / "cut.otio", tmp_path / "cues.otio", options)
    events = [e for e in result.analysis.events if e.onscreen]
    assert len(events) == 1 and events[0].continuous
    assert events[0].text_source == "vlm-fallback"  # a random VLM says nothing usable


@pytest.mark.weights
def test_a_real_vlm_names_a_falling_ball(tmp_path):
    """With real weights ($SONICVISION_WEIGHTS/vlm, any image-text-to-text chat model)."""
    import os

    root = os.environ.get("SONICVISION_WEIGHTS")
    if not root or not (Path(root) / "vlm").is_dir():
        pytest.skip("set SONICVISION_WEIGHTS to a folder holding vlm/ (a downloaded model)")
    describer = build_describer(f"vlm:{Path(root) / 'vlm'}")
    spec = SceneSpec(640, 360, 25, 50, objects=[ObjectSpec("fall", 5, 20, x=0.5, size=0.25)])
    truth = render_scene(spec, tmp_path / "fall.mp4")
    out = describer.describe(shot(media=truth.path, frames=50), [impact(20)], [0.8])
    (answer,) = describer.answers.values()
    assert out[0].source == "vlm", answer
    assert 1 <= len(answer.sounds) <= 4 and all(len(s.split()) <= 12 for s in answer.sounds)
