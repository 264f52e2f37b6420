"""``sonicvision train adapter|detector``: one ``train`` command, a subcommand per model.

No torch at import: the core CLI builds its parser without the model stack installed; each
subcommand imports its trainer when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sonicvision.errors import ConfigError

from .formatting import DefaultsHelp

MODEL_STACK = ("torch", "torchvision", "diffusers", "transformers", "accelerate", "safetensors")

TRAIN_DETECTOR_HELP = "train the R(2+1)D-18 timestamp detector on videos with their own audio"


def detector_train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help="folder of videos, each with a same-stem .wav or an audio stream",
    )
    p.add_argument(
        "--out", type=Path, required=True, help="checkpoint folder (for --detector r2plus1d:CKPT)"
    )
    p.add_argument("--val", type=Path, help="validation folder (default: a share of --data)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of --data held out")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--epochs", type=int, default=70)
    p.add_argument("--batch-size", type=int, default=24)
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    p.add_argument("--seed", type=int, default=0, help="seeds data order and initialisation")
    p.add_argument(
        "--pretrained",
        default="auto",
        help="auto (Kinetics weights if in the torch hub cache) | none | PATH.pth",
    )
    p.add_argument("--threshold-db", type=float, default=-40.0, help="eq. 7 threshold x (dB)")
    p.add_argument(
        "--reference",
        choices=("peak", "full_scale"),
        default="peak",
        help="threshold relative to the loudest 1 ms window or to full scale",
    )
    p.add_argument("--width", type=int, default=64, help="channels of layer 1 (64 = R(2+1)D-18)")
    p.add_argument("--frame-size", type=int, default=112, help="input frames are SIZE x SIZE")
    p.add_argument("--window", type=int, default=48, help="frames per training crop / window")
    p.add_argument("--overlap", type=int, default=16, help="frames shared by reading windows")
    p.add_argument("--cache", type=Path, help="decoded-frame cache (default: OUT.cache beside it)")
    p.add_argument("--device", help="cuda | cpu | cuda:1 (default: cuda when available)")
    p.add_argument("--json", action="store_true", help="one JSON line per epoch on stdout")


def cmd_train_detector(args: argparse.Namespace) -> int:
    from sonicvision.server.models.r2plus1d import DetectorConfig
    from sonicvision.server.train.detector import LabelOptions, TrainConfig, train_detector

    def show(report) -> None:
        if args.json:
            print(json.dumps(report.to_dict()), flush=True)
            return
        v = report.val
        where = "train" if report.val_is_train else "val"
        print(
            f"epoch {report.epoch}/{report.epochs}  step {report.step}  "
            f"loss {report.train_loss:.4f}  {where}: loss {v.loss:.4f}  "
            f"frame AP {v.frame_ap:.3f}  onset AP {v.onset_ap:.3f}  "
            f"acc {v.accuracy:.3f}  IoU {v.iou:.3f}",
            flush=True,
        )

    out = args.out.expanduser()
    reports = train_detector(
        args.data.expanduser(),
        out,
        detector=DetectorConfig(
            width=args.width, frame_size=args.frame_size, window=args.window, overlap=args.overlap
        ),
        train=TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            val_fraction=args.val_fraction,
            seed=args.seed,
            pretrained=args.pretrained,
            max_steps=args.max_steps,
            labels=LabelOptions(threshold_db=args.threshold_db, reference=args.reference),
        ),
        val=args.val.expanduser() if args.val else None,
        resume=args.resume,
        device=args.device,
        cache=(args.cache or out.with_name(out.name + ".cache")).expanduser(),
        on_epoch=show,
    )
    if not reports:
        print(f"nothing to do: {out} has finished {args.epochs} epochs", file=sys.stderr)
    elif not args.json:
        print(f"wrote {out} (use it with --detector r2plus1d:{out})")
    return 0


TRAIN_HELP = "train the paper's models: the time adapter (adapter) or the detector (detector)"
TRAIN_ADAPTER_HELP = "train the time-controllable adapter over a frozen Tango/AudioLDM"


def adapter_train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", type=Path, required=True, help="Tango or AudioLDM model folder")
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help="audio files + manifest.json/.csv (audio, caption, start, end per clip)",
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="checkpoint folder (for --generator ldm:DIR,adapter=CKPT)",
    )
    p.add_argument("--variant", choices=("tango", "audioldm"), help="default: from the folder")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--epochs", type=int, default=200, help="passes over the data")
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps in all")
    p.add_argument("--batch-size", type=int, default=32, help="clips per optimizer step")
    p.add_argument(
        "--lr",
        type=float,
        default=3e-5,
        help="Adam learning rate (the paper's; a small run wants ~2e-4)",
    )
    p.add_argument(
        "--mixed-precision",
        choices=("no", "fp16", "bf16"),
        default="no",
        help="autocast dtype on a GPU",
    )
    p.add_argument("--gradient-checkpointing", action="store_true", help="less memory, slower")
    p.add_argument("--save-every", type=int, default=1000, help="steps between checkpoints")
    p.add_argument("--validate-every", type=int, default=1000, help="steps between IoU checks")
    p.add_argument("--val-count", type=int, default=8, help="clips held out for validation")
    p.add_argument("--val-steps", type=int, default=25, help="solver steps when validating")
    p.add_argument(
        "--caption-dropout",
        type=float,
        default=0.1,
        help="share of captions dropped (for guidance)",
    )
    p.add_argument("--conditioning-scale", type=float, default=2.0, help="stored as the default")
    p.add_argument("--seed", type=int, default=0, help="seeds data order and initialisation")
    p.add_argument("--device", help="cuda | cpu | cuda:1 (default: cuda when available)")


def cmd_train_adapter(args: argparse.Namespace) -> int:
    from sonicvision.server.train.adapter import TrainOptions, train_adapter

    options = TrainOptions(
        base=args.base,
        data=args.data,
        out=args.out,
        variant=args.variant,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        lr=args.lr,
        mixed_precision=args.mixed_precision,
        resume=args.resume,
        save_every=args.save_every,
        validate_every=args.validate_every,
        val_count=args.val_count,
        val_steps=args.val_steps,
        caption_dropout=args.caption_dropout,
        conditioning_scale=args.conditioning_scale,
        gradient_checkpointing=args.gradient_checkpointing,
        seed=args.seed,
        device=args.device,
    )
    train_adapter(options, report=lambda line: print(line, flush=True))
    return 0


SUBCOMMANDS = {
    "adapter": (cmd_train_adapter, adapter_train_options, TRAIN_ADAPTER_HELP),
    "detector": (cmd_train_detector, detector_train_options, TRAIN_DETECTOR_HELP),
}


def train_options(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="train_target", required=True, metavar="{adapter,detector}")
    for name, (func, add_options, help_text) in SUBCOMMANDS.items():
        q = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            formatter_class=DefaultsHelp,
        )
        add_options(q)
        q.set_defaults(train_func=func)


def cmd_train(args: argparse.Namespace) -> int:
    try:
        return args.train_func(args)
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in MODEL_STACK:
            raise
        raise ConfigError(
            f"training needs the model stack ({exc.name} is missing): "
            "pip install 'sonicvision[gpu]'",
            field="train",
        ) from None
