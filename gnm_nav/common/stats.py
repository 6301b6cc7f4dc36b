"""Correlations and slopes the held-out reports use (numpy only: no scipy on the robot)."""
from __future__ import annotations

import numpy as np


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Rank correlation (ties ranked by their order); nan for fewer than 3 pairs."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 3:
        return float("nan")
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Linear correlation; nan for fewer than 3 pairs or a constant side."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 3 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def slope_through_origin(y: np.ndarray, x: np.ndarray) -> float:
    """Least-squares slope of y on x through the origin; nan where x is all zero."""
    y, x = np.asarray(y, np.float64), np.asarray(x, np.float64)
    power = float(np.dot(x, x))
    return float(np.dot(y, x) / power) if power > 0 else float("nan")
