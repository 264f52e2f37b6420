"""The registry: every family as a ``Preset`` (its words, its default mode, its function), and
how a prompt picks one.

The words live in ``sonicvision.server.vocabulary`` (the describer reads them too); the
functions in this package's family modules. Registry order breaks ties.
"""

from __future__ import annotations

from collections.abc import Mapping

from sonicvision.server.vocabulary import FAMILY_KEYWORDS, weighted_words

from .blasts import explosion, gunshot, thunder
from .creatures import bird, dog_bark
from .footsteps import footsteps
from .gestures import clap, cloth, paper, scrape, whoosh
from .impacts import crash, impact_glass, impact_metal, impact_soft, impact_wood
from .props import bounce, door, water
from .signals import bell, horn, siren
from .synth import Preset
from .textures import engine, fire, rain, room_tone, wind


def _make_presets() -> dict[str, Preset]:
    presets = [
        Preset(
            "impact_wood",
            FAMILY_KEYWORDS["impact_wood"],
            False,
            impact_wood,
            description="a knock or hit on wood: modes of a beam plus a contact click",
        ),
        Preset(
            "impact_metal",
            FAMILY_KEYWORDS["impact_metal"],
            False,
            impact_metal,
            description="a struck metal object: long, inharmonic ringing",
        ),
        Preset(
            "impact_glass",
            FAMILY_KEYWORDS["impact_glass"],
            False,
            impact_glass,
            description="glass or ceramic: bright short ringing, or a shatter",
        ),
        Preset(
            "impact_soft",
            FAMILY_KEYWORDS["impact_soft"],
            False,
            impact_soft,
            description="a dull thud: a body, a cushion, a punch",
        ),
        Preset(
            "footsteps",
            FAMILY_KEYWORDS["footsteps"],
            False,
            footsteps,
            description="heel-toe steps on concrete, wood, gravel, grass, snow or metal",
        ),
        Preset(
            "whoosh",
            FAMILY_KEYWORDS["whoosh"],
            False,
            whoosh,
            description="air moved past the microphone: a band sweep that swells and fades",
        ),
        Preset(
            "door",
            FAMILY_KEYWORDS["door"],
            False,
            door,
            description="a door slam with latch, or a creak ending in the latch",
        ),
        Preset(
            "cloth",
            FAMILY_KEYWORDS["cloth"],
            False,
            cloth,
            description="clothing and fabric movement: crinkled band noise in gestures",
        ),
        Preset(
            "water_splash",
            FAMILY_KEYWORDS["water_splash"],
            False,
            water,
            description="a splash with bubbles and spray, a drip, or running water",
        ),
        Preset(
            "fire",
            FAMILY_KEYWORDS["fire"],
            True,
            fire,
            level_db=-3.0,
            description="a fire: low roar, hiss and crackling pops",
        ),
        Preset(
            "wind",
            FAMILY_KEYWORDS["wind"],
            True,
            wind,
            level_db=-3.0,
            description="wind: gusting band noise with a whistle and a low rumble",
        ),
        Preset(
            "rain",
            FAMILY_KEYWORDS["rain"],
            True,
            rain,
            level_db=-3.0,
            description="rain: a hiss bed and thousands of drops",
        ),
        Preset(
            "engine",
            FAMILY_KEYWORDS["engine"],
            True,
            engine,
            level_db=-2.0,
            description="a combustion engine at idle or revving, or an electric motor",
        ),
        Preset(
            "room_tone",
            FAMILY_KEYWORDS["room_tone"],
            True,
            room_tone,
            level_db=-12.0,
            description="room tone or ambience: pink air, low rumble, optional mains hum",
        ),
        Preset(
            "paper",
            FAMILY_KEYWORDS["paper"],
            False,
            paper,
            description="paper: a page turn, or crumpling crackle",
        ),
        Preset(
            "bounce",
            FAMILY_KEYWORDS["bounce"],
            False,
            bounce,
            description="a ball bouncing to rest, or dribbled",
        ),
        Preset(
            "scrape",
            FAMILY_KEYWORDS["scrape"],
            False,
            scrape,
            description="friction: stick-slip judder and hiss, optionally a screech",
        ),
        Preset(
            "gunshot",
            FAMILY_KEYWORDS["gunshot"],
            False,
            gunshot,
            description="a gunshot: muzzle crack, low blast, the space's answer; or gunfire",
        ),
        Preset(
            "explosion",
            FAMILY_KEYWORDS["explosion"],
            False,
            explosion,
            description="an explosion: crack, huge low thump, rolling rumble, falling debris",
        ),
        Preset(
            "thunder",
            FAMILY_KEYWORDS["thunder"],
            False,
            thunder,
            description="thunder: a crack when close, then rolls of low rumble",
        ),
        Preset(
            "crash",
            FAMILY_KEYWORDS["crash"],
            False,
            crash,
            description="a crash: heavy thud, crumpling metal, breaking glass, debris",
        ),
        Preset(
            "horn",
            FAMILY_KEYWORDS["horn"],
            False,
            horn,
            description="a car, truck or bicycle horn: two reed tones a third apart",
        ),
        Preset(
            "bell",
            FAMILY_KEYWORDS["bell"],
            False,
            bell,
            description="a bell: church bell, hand bell, doorbell ding-dong or bicycle bell",
        ),
        Preset(
            "siren",
            FAMILY_KEYWORDS["siren"],
            False,
            siren,
            level_db=-3.0,
            description="a siren's wail or yelp (or one going by), an alarm's beeps",
        ),
        Preset(
            "dog_bark",
            FAMILY_KEYWORDS["dog_bark"],
            False,
            dog_bark,
            description="a dog's bark (small, medium or big), or barking",
        ),
        Preset(
            "bird",
            FAMILY_KEYWORDS["bird"],
            False,
            bird,
            description="a bird's phrase of chirps, or birdsong",
        ),
        Preset(
            "clap",
            FAMILY_KEYWORDS["clap"],
            False,
            clap,
            description="a hand clap, clapping, or applause",
        ),
    ]
    return {p.name: p for p in presets}


PRESETS: dict[str, Preset] = _make_presets()
FALLBACK_ONE_SHOT = "impact_soft"
FALLBACK_CONTINUOUS = "room_tone"


def rank_presets(
    text: str, presets: Mapping[str, Preset] | None = None
) -> list[tuple[Preset, float]]:
    """Every preset with its score for ``text``, best first (registry order breaks ties)."""
    presets = PRESETS if presets is None else presets
    weighted = weighted_words(text)
    scored = [(p, p.score(weighted)) for p in presets.values()]
    order = sorted(range(len(scored)), key=lambda i: -scored[i][1])
    return [scored[i] for i in order]


def match_preset(
    text: str, continuous: bool = False, presets: Mapping[str, Preset] | None = None
) -> tuple[Preset, float]:
    """The preset whose keywords best cover ``text``; score 0 means the fallback was chosen.

    The fallback is a soft impact for a one-shot and room tone for a continuous request: the
    least conspicuous sound of each kind.
    """
    presets = PRESETS if presets is None else presets
    best, score = rank_presets(text, presets)[0]
    if score > 0:
        return best, score
    name = FALLBACK_CONTINUOUS if continuous else FALLBACK_ONE_SHOT
    return presets.get(name, best), 0.0
