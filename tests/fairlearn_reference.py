"""fairlearn's per-group metrics, called directly: the reference the fairness tests compare with."""

from __future__ import annotations

import numpy as np
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
from sklearn.metrics import accuracy_score, precision_score


def fairlearn_by_group(y: np.ndarray, p: np.ndarray, sensitive, attrs) -> object:
    """MetricFrame's selection rate, TPR, FPR, precision and accuracy per group.

    Returns a pandas frame indexed by the group label Tailor uses (values joined by " · ").
    Precision uses ``zero_division=0`` as fairlearn's own wrappers do.
    """
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
            "precision": lambda a, b: precision_score(a, b, zero_division=0),
            "accuracy": accuracy_score,
        },
        y_true=y,
        y_pred=p,
        sensitive_features=sensitive,
    )
    by_group = frame.by_group.reset_index()
    by_group["group"] = by_group[list(attrs)].astype(str).agg(" · ".join, axis=1)
    return by_group.set_index("group")
