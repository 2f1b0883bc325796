"""The fitting and splitting that eval/answers.py uses: logistic regression (numpy, Newton), the
abstention threshold, and the held-out part, folds and English set of the question sets."""
from __future__ import annotations

import hashlib

import numpy as np

FOLDS = 5  # cross-validation folds for the ablations (by a hash of the question id)
ALLOWED_WRONG = 0.03  # the abstention threshold lets this share of the fit part's answerable questions go
# ridge penalties of the two logistic fits; the abstention model is fit on standardised features, so its
# penalty treats every signal alike whatever its scale (set by hand after one development comparison with
# 0.01 and 10)
L2_SENTENCE, L2_ABSTAIN = 1.0, 1.0


def held_out(qid: str) -> bool:
    return int(hashlib.sha1(qid.encode()).hexdigest(), 16) % 3 == 0


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2_SENTENCE, steps: int = 50) -> np.ndarray:
    """Logistic regression by Newton's method, L2 on all weights but the first (the bias)."""
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 1e-6
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) + penalty * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        w -= np.linalg.solve(hess, grad)
    return w


def fit_standardised(x: np.ndarray, y: np.ndarray, l2: float = L2_ABSTAIN) -> np.ndarray:
    """`fit_logistic` on features scaled to mean 0 and unit variance (the first column, the bias, kept),
    returned as weights on the raw features."""
    mean, scale = x[:, 1:].mean(0), x[:, 1:].std(0)
    scale[scale == 0] = 1.0
    w = fit_logistic(np.hstack([x[:, :1], (x[:, 1:] - mean) / scale]), y, l2)
    return np.concatenate([[w[0] - float(np.sum(w[1:] * mean / scale))], w[1:] / scale])


def source(case) -> str:
    """'en' for the English question set (eval/dev_en.jsonl, eval/unanswerable_en.jsonl), else 'rest'."""
    return "en" if case["id"].startswith(("en-", "unanswerable_en")) else "rest"


def fold(case) -> int:
    return int(hashlib.md5(case["id"].encode()).hexdigest(), 16) % FOLDS


def threshold_for(scores: np.ndarray, labels: np.ndarray) -> float:
    """The highest logit threshold that abstains on at most ALLOWED_WRONG of the answerable questions."""
    positives = np.sort(scores[labels == 1])
    return float(positives[int(np.floor(ALLOWED_WRONG * len(positives)))]) if positives.size else 0.0


def abstain_shares(abstained: np.ndarray, kinds: np.ndarray) -> dict:
    return {kind: round(float(np.mean(abstained[kinds == kind])), 3) for kind in ("dev", "left_out", "unanswerable")
            if (kinds == kind).any()}
