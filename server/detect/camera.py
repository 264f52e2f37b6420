"""The camera's motion between two frames: a global model fitted to tracked points.

A median of the flow is right for a pan and wrong for everything else a camera does: under a
zoom, a roll or a dolly every pixel moves differently, the median leaves most of that motion
in, and when the zoom ends the whole picture "stops". Here a similarity transform (pan, tilt,
zoom, roll: 4 degrees of freedom) is fitted by RANSAC to points the flow tracks, on a sparse
grid where the picture has detail, so what moves on its own (the outliers) does not pull the
fit. Its per-pixel flow is what the camera explains; the rest is motion in the scene.

OpenCV's RANSAC draws from a fixed seed on each call: the same flow gives the same model, so
a stream's results do not depend on the threads that measured it.
"""

from __future__ import annotations

import functools
import logging

import cv2
import numpy as np

logger = logging.getLogger(__name__)

_STRIDE = 4  # pixels between sampled points (at flow size)
_LEAST_POINTS = 24
_INLIER_PX = 0.75  # a point fits the model within this many pixels
_SPREAD = 0.2  # the fitted points' spread, each way, as a fraction of the frame


def camera_model(flow: np.ndarray, textured: np.ndarray) -> np.ndarray:
    """The 2x3 matrix taking each pixel ``x`` to ``x + flow(x)`` as far as the camera does.

    ``flow``: (h, w, 2) pixels; ``textured``: (h, w) bool, where the flow can be followed
    (flat areas take any flow). Falls back to the median translation when too few textured
    points, or no model, are found.
    """
    h, w = textured.shape
    sub = flow[_STRIDE // 2 :: _STRIDE, _STRIDE // 2 :: _STRIDE]
    tex = textured[_STRIDE // 2 :: _STRIDE, _STRIDE // 2 :: _STRIDE]
    ys, xs = _points(h, w)
    shift = median_shift(flow, textured)
    translation = np.array([[1, 0, shift[0]], [0, 1, shift[1]]], dtype=np.float64)
    # Too little detail to follow (a flat picture): more freedom would only fit noise.
    if np.count_nonzero(tex) < max(_LEAST_POINTS, 0.05 * tex.size):
        return translation
    src = np.stack([xs[tex], ys[tex]], axis=1).astype(np.float32)
    dst = src + sub[tex]
    model, inliers = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=_INLIER_PX, maxIters=200
    )
    if model is None or inliers is None or inliers.sum() < _LEAST_POINTS // 2:
        return translation
    # A zoom or roll too small to move any pixel by half a pixel more than a pan would is
    # noise the extra freedom fitted: the (robust) median translation is the better estimate.
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], dtype=np.float64)
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    linear = model[:, :2] - np.eye(2)
    if np.abs((corners - centre) @ linear.T).max() < 0.5:
        return translation
    # A zoom or roll is only measured on points spread over the picture (from a strip of
    # detail it extrapolates anything), and must explain clearly more of them than a pan.
    fit = src[inliers.ravel() > 0]
    if fit[:, 0].std() < _SPREAD * w or fit[:, 1].std() < _SPREAD * h:
        return translation
    near = np.hypot(*(sub[tex] - shift).T) < _INLIER_PX
    if len(fit) < 1.2 * near.sum():
        return translation
    return model


def median_shift(flow: np.ndarray, textured: np.ndarray) -> np.ndarray:
    """The median flow where the picture has detail to follow (flat areas take any flow), on
    every other pixel: robust for a pan, and what a small zoom or roll is measured against."""
    sub, tex = flow[::2, ::2], textured[::2, ::2]
    if np.count_nonzero(tex) >= 0.05 * tex.size:
        xs, ys = sub[..., 0][tex], sub[..., 1][tex]
    else:
        xs, ys = sub[..., 0].ravel(), sub[..., 1].ravel()
    return np.array([_median(xs), _median(ys)], dtype=np.float64)


def _median(values: np.ndarray) -> float:
    """``np.median`` of a 1-D array, without its generality (a third of its time here)."""
    n = values.size
    k = n // 2
    if n % 2:
        return float(np.partition(values, k)[k])
    low, high = np.partition(values, [k - 1, k])[k - 1 : k + 1]
    return float((low + high) / 2)


@functools.lru_cache(maxsize=8)
def _points(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the sampled points of an ``h`` x ``w`` flow (the same every frame)."""
    ys, xs = np.mgrid[_STRIDE // 2 : h : _STRIDE, _STRIDE // 2 : w : _STRIDE]
    ys.flags.writeable = xs.flags.writeable = False
    return ys, xs


def camera_flow(model: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The (h, w, 2) flow that ``model`` gives each pixel (``x``, ``y``: the pixel grid's
    coordinates, x along the rows and y down the columns). Computed in double precision and
    stored in single; the products are taken once per column and row and broadcast, the sums
    in the same order per pixel: the same numbers as over the whole grid, at a third of it."""
    col, row = x[:1], y[:, :1]
    out = np.empty((*x.shape, 2), np.float32)
    out[..., 0] = model[0, 0] * col + model[0, 1] * row + model[0, 2] - col
    out[..., 1] = model[1, 0] * col + model[1, 1] * row + model[1, 2] - row
    return out


def reversed_model(model: np.ndarray) -> np.ndarray:
    """The model whose flow is minus ``model``'s at every pixel (x -> x - (Ax + b - x))."""
    out = -model.copy()
    out[0, 0] += 2.0
    out[1, 1] += 2.0
    return out
