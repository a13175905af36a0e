"""Shape ensemble outputs into the prediction responses the API returns."""

from __future__ import annotations

from typing import Any

import numpy as np

from services import labels


def top_k_classes(probabilities: np.ndarray, k: int) -> list[dict[str, Any]]:
    """Return the ``k`` most probable classes, best first, with names and wnids."""
    k = max(1, min(k, probabilities.shape[-1]))
    # argpartition then a sort of the k survivors is O(n + k log k).
    candidates = np.argpartition(-probabilities, k - 1)[:k]
    order = candidates[np.argsort(-probabilities[candidates], kind="stable")]
    return [
        {
            "class_index": int(i),
            "wnid": labels.wnid(int(i)),
            "name": labels.class_name(int(i)),
            "probability": float(probabilities[i]),
        }
        for i in order
    ]


def prediction_response(
    probabilities: np.ndarray,
    member_probabilities: dict[str, np.ndarray],
    top_k: int,
    ensemble_id: str,
    execution_provider: str,
) -> dict[str, Any]:
    """Build one image's prediction: the ensemble's top-k and each member's."""
    return {
        "ensemble": {"id": ensemble_id, "members": list(member_probabilities)},
        "predictions": top_k_classes(probabilities, top_k),
        "members": [
            {"name": name, "predictions": top_k_classes(probs, top_k)}
            for name, probs in member_probabilities.items()
        ],
        "execution_provider": execution_provider,
    }
