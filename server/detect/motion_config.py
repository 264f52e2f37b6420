"""The motion detector's thresholds (``MotionConfig``), apart so that every part of the
detector (motion.py, decide.py, reject.py) reads the same ones."""

from __future__ import annotations

from dataclasses import dataclass

IMPACT_SPAN_S = 0.2


@dataclass(frozen=True)
class MotionConfig:
    """Thresholds of :class:`MotionDetector`: speeds in frame widths per second, areas as
    fractions of the frame, levels in 8-bit grey."""

    flow_width: int = 160  # width the flow is computed at, pixels
    impact_speed: float = 0.15  # a stop loses at least this speed ...
    impact_fraction: float = 0.5  # ... and at least this fraction of its incoming speed
    impact_area: float = 0.0012  # stopping pixels needed for an impact
    move_speed: float = 0.05  # a pixel moves above this speed
    flow_noise_px: float = 0.25  # flow below this many pixels per frame is noise, at any rate
    # A stop must lose at least this many pixels a frame (at flow_width): a slow drift that the
    # flow reads in flickers (an object at rest under a pan that a flat background hides) is
    # no impact. It binds above 32 fps only. On 30 generated 50/59.94 fps scenes it took the
    # false impacts from 41 to 12 and kept all 26 true ones (1.0 px lost a small bounce).
    impact_noise_px: float = 0.75
    impact_steady: float = 0.65
    # What halted and moves on the same way two frames later at this fraction of its arrival
    # speed stuttered: no impact.
    resume_fraction: float = 0.5
    move_area: float = 0.0025  # moving pixels needed for continuous activity
    min_level: float = 10.0  # least grey-level change that counts as a change
    min_slope: float = 1.5  # grey levels per pixel: flatter areas have no measurable flow
    impact_span_s: float = IMPACT_SPAN_S
    min_continuous_s: float = 0.24
    max_gap_s: float = 0.12
    cut_unmatched: float = 0.5  # a pair where the flow matches fewer pixels than this is a cut
    # What makes no sound (reject.py). Impacts below this confidence (calibrated: the chance
    # of a contact, calibration.py) are not reported. Read off the curve of
    # `bench/spotting_real.py --calibrate`: no threshold above 0 keeps every true impact.
    # Held out (each half of Big Buck Bunny scored by a map fitted without it), 0.15 leaves
    # the second half at precision 1.00 (recall 0.29 -> 0.24) but drops 12 of 96 generated
    # impacts (weak bounces); 0.05 already drops one of the demo cut's. So none by default;
    # editors trade with --min-confidence (0.4: the film's cues all true, recall 0.26).
    min_confidence: float = 0.0
    # Small fast objects, tracked as blobs of change where the flow cannot follow (objects.py).
    small_objects: bool = True
    # A small object that bounces or comes to rest where the picture around it was flat
    # (grey levels' spread under this) met nothing: empty space, a screen's pointer over a
    # plain background. Big Buck Bunny's two true ones met ground spreading 19; the text
    # cursor of movie-hello.mp4 0.
    contact_ground: float = 2.0
    periodic_reversals: int = 3  # a place that reverses this often in +-0.5 s flaps
    # ... moving either way at this speed at least (widths/s) and at ``periodic_share`` of the
    # stop's own arrival: a small wing's back-stroke reads slower than its down-stroke at flow
    # size.
    periodic_speed: float = 0.075
    periodic_share: float = 0.3
    passby_area: float = 0.008  # a pass-by is a large object: this much of the frame moving ...
    passby_speed: float = 0.5  # ... crossing fast (widths/s): close to the camera ...
    # ... and crossing: its motion adds up to this share of the width at least, one way
    # (slide_straight of its path). Generated pass-bys travel 0.36-0.85 at >= 0.94; Big Buck
    # Bunny ducking out of the frame's bottom 0.04 at 0.34, diving down past a tree 0.12.
    passby_travel: float = 0.25
    # ... and does not walk: on gait_frames frames at least, the bottom of what moves stays
    # behind its top (goes on at under gait_planted of the top's speed, the top at
    # passby_speed): a planted foot. bikes.mp4's walker passing the lens: 3 frames; a
    # generated walker (legs textured along themselves, feet planted in turn) 2-5 on 16 of
    # 20 seeds and gaits, rigid legs at most 1; generated pass-bys (rigid, 29 runs at 24-60
    # fps under pans) at most 1. Past about 1 width/s the flow loses fine-textured rigid legs
    # and their bottom reads planted too (3 of 5 seeds at 11 px a frame of 256).
    gait_planted: float = 0.1
    gait_frames: int = 2
    slide_coherence: float = 0.6  # a slide moves rigidly: |mean velocity| / mean speed
    slide_area: float = 0.15  # more of the picture moving than this is background, not a slide
    # A slide moving in separate places (8 x 6 grid) on more of its frames than this is several
    # things (vtest's walkers: 0.51); the generated scenes' slides: <= 0.17.
    slide_scattered: float = 0.3
    # A slide's moving area holds from frame to frame: its median change under this share of
    # its median; and it moves on this share of its frames at least (gaps bridged). Generated
    # slides: changes 0.02-0.28, moving on >= 0.82; vtest's walkers change 1.2-1.8, the
    # mouse pointer of movie-hello.ogg moves on 0.6.
    slide_steady: float = 0.5
    slide_sustained: float = 0.75
    # A slide goes somewhere, one way: its motion adds up to this share of the width at
    # least, at slide_straight of its path length. Generated slides travel 0.068-0.37 widths
    # at 0.91-1.0; of Big Buck Bunny's 33 "slides" (a bird bobbing as it sings, Bunny waking
    # in his burrow, bending for an apple, an ear twitching) 31 travel less or less straight.
    slide_travel: float = 0.05
    slide_straight: float = 0.8
    # A flow impact's regions moving over more of the frame than this are a body, a face or a
    # close-up turning, not a thing that hit something. Generated scenes' impacts: <= 0.051;
    # on Big Buck Bunny 11 of 19 false flow impacts were larger.
    impact_region: float = 0.08
    # What stops must have come steadily: on each of the 2 frames before, the place moved
    # along the arrival direction at least this share of the arrival speed. Generated scenes'
    # impacts: >= 0.19; it turned down 7 of BBB's 19 false flow impacts (gestures that start
    # and stop; 3 frames would take 9 but loses the demo cut's second bounce).
    impact_approach: float = 0.15
    # A flow stop losing less than this (widths/s, the stopping pixels' mean deceleration) is
    # kept only as the rebound of a harder stop near the same place within rebound_s: a
    # ball's later bounces. Generated scenes: first landings and hits lose >= 0.49, their
    # bounces 0.19-0.33 (each after its landing); Big Buck Bunny's mouth closing and arm
    # coming to rest 0.21-0.23, a car slowing behind a fence in bikes.mp4 0.19.
    impact_soft: float = 0.3
    rebound_s: float = 1.0
