"""Speed of the procedural generator: every preset as a 2 s one-shot, a few as 10 s textures.

Printed per preset: the best of ``--repeats`` render times in milliseconds, and the real-time
factor for the textures. What was once a test's limit (50 ms per one-shot, 300 ms per 10 s
texture) is printed beside the number for reference; nothing is asserted, a loaded machine
only makes the numbers larger.

    python bench/procedural_speed.py
    python bench/procedural_speed.py --repeats 1 --json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from sonicvision.server.generate.base import SoundRequest
from sonicvision.server.generate.procedural import PRESETS, ProceduralGenerator

ONE_SHOT_REFERENCE_S = 0.05
TEXTURE_REFERENCE_S = 0.3
TEXTURES = ("wind", "fire", "impact_metal", "engine", "rain", "thunder")


def best_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="renders per case (best kept)")
    parser.add_argument("--seconds", type=float, default=10.0, help="texture length")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args(argv)

    gen = ProceduralGenerator()
    one_shots = {}
    for name in PRESETS:
        request = SoundRequest(name, 2.0, False, 1)
        one_shots[name] = best_of(args.repeats, lambda r=request, n=name: gen.render_preset(n, r))
    textures = {}
    for name in (t for t in TEXTURES if t in PRESETS):
        request = SoundRequest(name, args.seconds, True, 1)
        textures[name] = best_of(args.repeats, lambda r=request, n=name: gen.render_preset(n, r))

    print(f"one-shots, 2 s asked (reference {ONE_SHOT_REFERENCE_S * 1000:.0f} ms):")
    for name, s in sorted(one_shots.items(), key=lambda kv: -kv[1]):
        print(f"  {name:14s} {s * 1000:7.1f} ms")
    print(f"textures, {args.seconds:g} s (reference {TEXTURE_REFERENCE_S * 1000:.0f} ms per 10 s):")
    for name, s in sorted(textures.items(), key=lambda kv: -kv[1]):
        print(f"  {name:14s} {s * 1000:7.1f} ms  {args.seconds / s:7.0f}x real time")
    results = {"one_shot_s": one_shots, "texture_s": textures, "repeats": args.repeats}
    if args.json:
        print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
