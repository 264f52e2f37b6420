"""Impact confidence that means something: the chance that a candidate is a real contact.

The detector's raw scores (a flow stop's deceleration, a tracked object's turn) rank the
candidates of one kind, but a 0.3 of one kind is not a 0.3 of the other, and neither is a
probability. Here each candidate's evidence (:func:`flow_features`, :func:`contact_features`)
goes through a logistic map per source, fitted on labelled candidates: those of Big Buck
Bunny's hand labels (``bench/labels/``) and of the generated scenes, whose truth is exact.
The map's coefficients are data, ``calibration.json`` beside this module, written by
``python bench/spotting_real.py --calibrate`` (which also checks each half of the film
against a map fitted without it). A source the table does not know keeps its raw score.

So ``min_confidence`` reads as "at least this likely to be a contact", and the default
threshold is chosen on the precision/recall curve of the held-out halves.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sonicvision.errors import ConfigError
from sonicvision.server.detect.objects import Contact
from sonicvision.server.detect.reject import Evidence, approach

logger = logging.getLogger(__name__)

TABLE = Path(__file__).with_name("calibration.json")
FLOW, SMALL = "flow", "small object"
# The evidence each source gives (the keys of flow_features / contact_features).
KNOWN = {
    FLOW: {
        "score",
        "log_decel",
        "log_share",
        "log_region",
        "approach",
        "camera",
        "moving",
        "x",
        "y",
    },
    SMALL: {"score", "bounce", "struck", "log_speed", "log_size", "x", "y"},
}


def flow_features(ev: Evidence, t: int, score: float) -> dict[str, float]:
    """The evidence of a flow impact at ``t``: how hard and how much stopped, how it came,
    what the camera and the rest of the picture did. ``score`` is the raw confidence."""
    decel = float(ev.impact_speed[t])
    share = float(ev.impact[t]) / max(decel, 1e-9)  # stopping pixels, of the frame
    return {
        "score": score,
        "log_decel": float(np.log(max(decel, 1e-3))),
        "log_share": float(np.log(max(share, 1e-5))),
        "log_region": float(np.log(max(float(ev.stop_area[t]), 1e-5))),
        "approach": float(np.clip(approach(ev, t), -1.0, 2.0)),
        "camera": float(np.hypot(*ev.camera[t])),
        "moving": float(ev.moving[t]),
        "x": float(ev.stop[t][0]),  # where (fractions of the frame): for looking, not fitting
        "y": float(ev.stop[t][1]),
    }


def contact_features(c: Contact) -> dict[str, float]:
    """The evidence of a small object's contact (objects.py)."""
    return {
        "score": c.confidence,
        "x": c.x,
        "y": c.y,
        "bounce": 1.0 if c.kind == "bounce" else 0.0,
        "struck": 1.0 if c.kind == "struck" else 0.0,
        "log_speed": float(np.log(max(c.speed, 1e-3))),
        "log_size": float(np.log(max(c.size, 1e-4))),
    }


@dataclass(frozen=True)
class Logistic:
    """``1 / (1 + exp(-(bias + weights . (x - mean) / scale)))`` over named features."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def __call__(self, features: dict[str, float]) -> float:
        x = np.array([features[k] for k in self.features], dtype=float)
        z = self.bias + float(self.weights @ ((x - self.mean) / self.scale))
        return float(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))))

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "mean": self.mean.round(6).tolist(),
            "scale": self.scale.round(6).tolist(),
            "weights": self.weights.round(6).tolist(),
            "bias": round(self.bias, 6),
        }

    @classmethod
    def of(cls, data: dict[str, Any]) -> Logistic:
        names = tuple(data["features"])
        arrays = [np.asarray(data[k], dtype=float) for k in ("mean", "scale", "weights")]
        if any(a.shape != (len(names),) for a in arrays):
            raise ValueError("mean, scale and weights must each have one value per feature")
        return cls(names, *arrays, float(data["bias"]))


class Calibration:
    """The per-source maps from evidence to confidence (raw score where there is none)."""

    def __init__(self, models: dict[str, Logistic] | None = None) -> None:
        self.models = models or {}

    def confidence(self, source: str, features: dict[str, float]) -> float:
        model = self.models.get(source)
        if model is None:
            return float(np.clip(features["score"], 0.0, 1.0))
        return model(features)

    @classmethod
    def load(cls, path: Path = TABLE) -> Calibration:
        """The table at ``path``; none there: raw scores. A broken table is a ConfigError."""
        if not path.exists():
            logger.debug("no calibration table at %s: raw scores", path)
            return cls()
        try:
            data = json.loads(path.read_text())
            models = {k: Logistic.of(v) for k, v in data["models"].items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"calibration table {path} is unreadable: {exc}") from exc
        for source, model in models.items():
            unknown = set(model.features) - KNOWN.get(source, set())
            if unknown:
                raise ConfigError(
                    f"calibration table {path}: source {source!r} reads evidence the detector "
                    f"does not give: {sorted(unknown)}"
                )
        return cls(models)


def fit_logistic(
    rows: list[dict[str, float]],
    labels: list[bool],
    features: tuple[str, ...],
    l2: float = 1.0,
    weights: list[float] | None = None,
) -> Logistic:
    """An L2-regularised logistic regression (Newton's method) of ``labels`` on ``features``,
    standardised; ``weights`` per row (1 each by default). Small labelled sets need the
    penalty: it keeps a feature that separates a handful of cases from going to infinity."""
    x = np.array([[r[k] for k in features] for r in rows], dtype=float)
    y = np.asarray(labels, dtype=float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([np.ones((len(y), 1)), (x - mean) / scale])
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[0] = 1e-6  # the bias is not pulled to 0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -30, 30)))
        grad = z.T @ (w * (p - y)) + penalty * beta
        hess = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return Logistic(features, mean, scale, beta[1:], float(beta[0]))
