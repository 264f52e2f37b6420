"""The sound vocabulary: how prompts and file names become words, and the words of each family.

Shared by the describer (does a clip name name a sound?), the procedural generator (which
family?) and the library generator (which file?), so that all three read a prompt alike and
no stage has to import another stage to know what a sound is called.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

_STOPWORDS = frozenset(
    """a an the and or but of to is are was were be been being it its this that these those
    some any his her him their them our my your someone something somebody one very slightly
    really then while as just lot lots few couple""".split()
)
# Words after one of these usually name the surface or the place, not the sound's source.
_CONTEXT_WORDS = frozenset(
    """on onto in into at against across over through along upon off from with under inside
    behind near by towards toward down up""".split()
)
CONTEXT_WEIGHT = 0.6

# Spellings that mean the same thing (true synonyms only; "slam means door" is a family keyword).
_SAME_AS = {
    "footstep": "step",
    "walk": "step",
    "tread": "step",
    "stride": "step",
    "stroll": "step",
    "tiptoe": "step",
    "stomp": "step",
    "swoosh": "whoosh",
    "woosh": "whoosh",
    "swish": "whoosh",
    "swoop": "whoosh",
    "ambiance": "ambience",
    "ambient": "ambience",
    "atmo": "ambience",
    "atmos": "ambience",
    "atmosphere": "ambience",
    "splosh": "splash",
    "tinkle": "clink",
    "wooden": "wood",
    "metallic": "metal",
    "glassy": "glass",
    "raindrop": "rain",
    "rainfall": "rain",
}


def stem(word: str) -> str:
    """A deliberately small stemmer: plurals, -ing, -ed, a final e and doubled consonants."""
    w = word.lower()
    if len(w) > 4 and w.endswith("ing") and re.search(r"[aeiouy]", w[:-3]):
        w = w[:-3]
    elif len(w) > 4 and w.endswith("ied"):
        w = w[:-3] + "y"
    elif (
        len(w) > 3 and w.endswith("ed") and not w.endswith("eed") and re.search(r"[aeiouy]", w[:-2])
    ):
        w = w[:-2]
    elif len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeioulsz":
        w = w[:-1]
    if len(w) > 3 and w.endswith("e") and not w.endswith("ee"):
        w = w[:-1]
    return w


_CANON = {stem(k): stem(v) for k, v in _SAME_AS.items()}
# Words that ask for a series of hits rather than one ("knocking", "taps repeatedly").
REPEAT_WORDS = frozenset(
    "repeated repeatedly repeating series several multiple many rapid rhythmic again".split()
)
HIT_VERBS = frozenset(
    stem(w)
    for w in """knock hammer tap bang clink clang clank pound drum rattle chop hit strike thud
    thump clack slap punch""".split()
)

# Words that name a sound or the action that makes one (not just a thing that could sound): a
# clip named "door_slam" says what it sounds like, "dog" or "bikes" only what is in it.
SOUND_WORDS = frozenset(
    """slam bang knock tap hit strike thud thump clack clink clang clank crash smash shatter
    break drop fall land bounce splash pour drip step footstep walk run stomp scrape slide drag
    screech skid creak squeak rustle whoosh swish swoosh bark woof growl meow howl chirp tweet
    honk beep ring ding buzz explode explosion blast gunshot gunfire thunder clap applause
    punch slap kick impact collide collision rain wind splash""".split()
)


@lru_cache(maxsize=4096)
def normalize_word(word: str) -> str:
    """The matching form of one word: stemmed, then mapped onto its canonical synonym."""
    s = stem(word)
    return _CANON.get(s, s)


def weighted_words(text: str) -> list[tuple[str, float]]:
    """Content words with weight 1, or CONTEXT_WEIGHT once a preposition has been seen."""
    out: list[tuple[str, float]] = []
    weight = 1.0
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in _CONTEXT_WORDS:
            weight = CONTEXT_WEIGHT
        elif word not in _STOPWORDS and len(word) > 1:
            out.append((normalize_word(word), weight))
    return out


def tokenize(text: str) -> list[str]:
    """Normalised content words of a prompt or a file name, in order (duplicates kept)."""
    return [w for w, _ in weighted_words(text)]


def keywords(spec: str, base: Mapping[str, float] | None = None) -> dict[str, float]:
    """Keywords written as ``"word word:0.6 ..."``; a word without a weight weighs 1."""
    words = dict(base or {})
    for item in spec.split():
        word, _, weight = item.partition(":")
        words[word] = float(weight) if weight else 1.0
    return words


# Words of striking, shared by the four impact presets; the material word picks among them.
HIT_WORDS = keywords(
    """impact hit bang knock tap strike collide collision clunk thud:0.8 clack:0.8 drop:0.8
    smack:0.8 thump:0.8 bump:0.8 land:0.6 crash:0.5 set:0.3 put:0.3 place:0.3"""
)


# The words that choose each sound family of the procedural generator (and name sounds for
# the describer); registry order breaks ties.
FAMILY_KEYWORDS: dict[str, dict[str, float]] = {
    "impact_wood": keywords(
        """wood wooden plank knock:1.1 clack table:0.8 desk:0.8 crate:0.8 stick:0.8
        chair:0.6 box:0.6 shelf:0.6 bat:0.6 log:0.6 board:0.6 block:0.6 cabinet:0.7
        drawer:0.7 hammer:0.4 cutting:0.3 door:0.45""",
        HIT_WORDS,
    ),
    "impact_metal": keywords(
        """metal metallic steel iron pipe pan ding bell wrench anvil gong clang:1.5
        clank:1.3 pot:0.8 can:0.8 tin:0.8 knife:0.8 spoon:0.8 fork:0.8 locker:0.8
        tool:0.6 key:0.6 chain:0.6""",
        HIT_WORDS,
    ),
    "impact_glass": keywords(
        """glass bottle tink clink:1.5 shatter:1.5 jar:0.9 porcelain:0.9 vase:0.9
        cup:0.8 wine:0.8 break:0.8 smash:0.8 broken:0.8 plate:0.8 dish:0.8 ceramic:0.8
        mug:0.7 window:0.6 chime:0.5 toast:0.4""",
        HIT_WORDS,
    ),
    "impact_soft": keywords(
        """soft body pillow cushion flesh kick mattress fist slap punch:1.2 thud:1.1
        thump:1.1 sack:0.9 fall:0.8 couch:0.8 sofa:0.8 collapse:0.8 bag:0.6 bed:0.6
        tumble:0.6 boom:0.6""",
        HIT_WORDS,
    ),
    "footsteps": keywords(
        """footstep:1.5 footsteps:1.5 step:1.5 walk:1.5 feet:1.2 foot shoe boot heel
        sneaker jog:0.8 run:0.6 sprint:0.6 pace:0.6 stair:0.6 floorboard:0.5
        gravel:0.4 snow:0.4 grass:0.3"""
    ),
    "whoosh": keywords(
        """whoosh:1.5 swoosh:1.5 swish:1.5 swing swipe sword whip flyby pass:0.6
        fly:0.6 throw:0.6 blade:0.6 transition:0.6 zip:0.6 rush:0.5 wave:0.4 air:0.3"""
    ),
    "door": keywords(
        """door:1.5 slam:1.5 creak:1.2 hinge latch shut doorway close:0.8 gate:0.8
        open:0.6 squeak:0.6"""
    ),
    "cloth": keywords(
        """cloth:1.5 clothes:1.2 rustle:1.2 fabric:1.2 jacket shirt coat sleeve blanket
        garment dress:0.8 sheet:0.8 towel:0.8 movement:0.6 leather:0.6 pocket:0.6
        gesture:0.5 move:0.4 shuffle:0.4 sit:0.3"""
    ),
    "water_splash": keywords(
        """splash:1.5 water:1.2 dive drip droplet puddle bubble liquid plop swim
        pool:0.8 stream:0.8 lake:0.6 river:0.6 pour:0.6 wet:0.6 wave:0.5 sink:0.5
        tap:0.2"""
    ),
    "fire": keywords(
        """fire:1.5 campfire:1.5 fireplace:1.5 bonfire:1.5 crackle:1.2 flame:1.2 burn
        torch ember blaze"""
    ),
    "wind": keywords(
        """wind:1.5 windy:1.5 gust:1.2 breeze:1.2 gale:1.2 howl blow:0.8 draft:0.8
        blizzard:0.8 storm:0.5"""
    ),
    "rain": keywords(
        """rain:1.5 rainy:1.5 downpour:1.5 raindrop:1.5 drizzle:1.2 patter
        thunderstorm shower:0.6 storm:0.6 umbrella:0.6 drop:0.2"""
    ),
    "engine": keywords(
        """engine:1.5 motor:1.5 idle rev motorcycle tractor truck:0.8 vehicle:0.8
        machine:0.8 generator:0.8 fan:0.8 drill:0.8 car:0.7 bus:0.7 drone:0.5 boat:0.5
        hum:0.5 buzz:0.4 bike:0.3"""
    ),
    "room_tone": keywords(
        """ambience:1.5 ambient:1.5 atmosphere:1.5 room:1.2 tone background silence
        hvac presence quiet:0.8 interior:0.8 office:0.8 hall:0.6 city:0.6 exterior:0.6
        night:0.5 air:0.4 hum:0.3 traffic:1.2 street:0.6"""
    ),
    "paper": keywords(
        """paper:1.5 newspaper:1.5 page:1.2 crumple:1.2 crinkle envelope wrapper
        book:0.8 letter:0.8 cardboard:0.8 tissue:0.8 card:0.6 map:0.6 flip:0.5
        turn:0.3"""
    ),
    "bounce": keywords(
        """bounce:1.5 ball:1.5 basketball:1.5 bouncy:1.5 dribble:1.2 football tennis
        pong soccer ping:0.6 rubber:0.6"""
    ),
    "scrape": keywords(
        """scrape:1.5 slide:1.2 drag:1.2 friction:1.2 scratch screech grind rub skid
        squeal:0.8 shove:0.6 push:0.5"""
    ),
    # Toward the paper's CondPromptBank categories (Table 1): weapons, fire and explosions,
    # nature and weather, impacts and crashes, vehicles, bells, emergency, animals, human.
    "gunshot": keywords(
        """gunshot:1.5 gun:1.5 gunfire:1.5 pistol:1.2 rifle:1.2 shotgun:1.5 revolver:1.2
        handgun:1.2 firearm:1.2 gunfight:1.5 bullet:0.8 weapon:0.8 ricochet:0.6 fire:0.3"""
    ),
    "explosion": keywords(
        """explosion:1.5 explode:1.5 kaboom:1.5 blast:1.2 bomb:1.2 grenade:1.2
        detonation:1.2 detonate:1.2 dynamite:1.2 boom:1.0 firework:0.8"""
    ),
    "thunder": keywords("""thunder:1.5 thunderclap:1.5 thunderbolt:1.5 lightning:1.2 rumble:0.8"""),
    "crash": keywords(
        """crash:1.5 wreck:1.5 crunch:1.2 accident:1.2 pileup:1.2 collision:1.2
        smashup:1.2 demolish:0.8 destroy:0.8"""
    ),
    "horn": keywords("""horn:1.5 honk:1.5 foghorn:1.5 hooter:1.2 klaxon:1.2 toot:1.0"""),
    "bell": keywords(
        """bell:1.5 doorbell:1.5 toll:1.2 chime:1.0 dong:1.0 ring:0.8 church:0.8 ding:0.6"""
    ),
    "siren": keywords(
        """siren:1.5 alarm:1.6 beep:1.2 buzzer:1.2 ambulance:0.8 police:0.6 emergency:0.6
        wail:0.6 yelp:0.6"""
    ),
    "dog_bark": keywords("""dog:1.5 bark:1.5 woof:1.5 puppy:1.2 yap:1.2 hound:1.0 growl:0.6"""),
    "bird": keywords(
        """bird:1.5 chirp:1.5 tweet:1.5 birdsong:1.5 songbird:1.5 chirrup:1.5 sparrow:1.2
        warble:1.2 robin:1.0 seagull:1.0 gull:1.0"""
    ),
    "clap": keywords(
        """clap:1.5 applause:1.5 applaud:1.5 handclap:1.5 ovation:1.0 cheer:0.6 hand:0.5"""
    ),
}
