"""The fitting and splitting that eval/answers.py uses: logistic regression (numpy, Newton), the
abstention model and threshold, the held-out part, folds and English set of the question sets, and the
abstention's held-out figures (cross-validation, the English sets, the folds' models on another index)."""
from __future__ import annotations

import hashlib

import numpy as np

from qa.abstain import ABSTAIN_FEATURES, ABSTAIN_SIGNS

ENGLISH = ABSTAIN_FEATURES.index("english")

FOLDS = 5  # cross-validation folds for the ablations (by a hash of the question id)
ALLOWED_WRONG = 0.03  # the abstention threshold lets this share of the fit part's answerable questions go
# ridge penalties of the two logistic fits; the abstention model is fit on standardised features, so its
# penalty treats every signal alike whatever its scale (set by hand after one development comparison with
# 0.01 and 10)
L2_SENTENCE, L2_ABSTAIN = 1.0, 1.0


def held_out(qid: str) -> bool:
    return int(hashlib.sha1(qid.encode()).hexdigest(), 16) % 3 == 0


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2_SENTENCE, steps: int = 50,
                 sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Logistic regression by Newton's method, L2 on all weights but the first (the bias)."""
    w = np.zeros(x.shape[1])
    sw = np.ones(len(y)) if sample_weight is None else sample_weight
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 1e-6
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (sw * (p - y)) + penalty * w
        hess = (x * (sw * p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        w -= np.linalg.solve(hess, grad)
    return w


def fit_standardised(x: np.ndarray, y: np.ndarray, l2: float = L2_ABSTAIN, signs: np.ndarray | None = None,
                     sample_weight: np.ndarray | None = None) -> np.ndarray:
    """`fit_logistic` on features scaled to mean 0 and unit variance (the first column, the bias, kept),
    returned as weights on the raw features. With `signs` (+1, -1 or 0 = free per column) a feature whose
    weight comes out with the wrong sign is left out and the rest refit, until every sign holds."""
    mean, scale = x[:, 1:].mean(0), x[:, 1:].std(0)
    scale[scale == 0] = 1.0
    z = np.hstack([x[:, :1], (x[:, 1:] - mean) / scale])
    keep = np.ones(x.shape[1], dtype=bool)
    while True:
        w = np.zeros(x.shape[1])
        w[keep] = fit_logistic(z[:, keep], y, l2, sample_weight=sample_weight)
        wrong = np.zeros_like(keep) if signs is None else (signs * w < 0)
        if not wrong.any():
            break
        keep &= ~wrong
    return np.concatenate([[w[0] - float(np.sum(w[1:] * mean / scale))], w[1:] / scale])


def balanced(y: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Sample weights that give each (group, class) cell the same total weight (here: Dutch and English
    questions, answerable or not), so the larger language does not set the other's evidence."""
    cells = list(zip(group.tolist(), y.tolist()))
    counts = {c: cells.count(c) for c in set(cells)}
    return np.array([len(cells) / (len(counts) * counts[c]) for c in cells])


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


def fit_abstention(x: np.ndarray, y: np.ndarray, signs: bool = True, balance: bool = True) -> np.ndarray:
    """The abstention model as `qa.abstain` uses it: standardised, with `ABSTAIN_SIGNS` (signs=False: free
    weights) and the two languages x two classes weighted alike (balance=False: every question alike)."""
    english = x[:, ENGLISH]
    return fit_standardised(x, y, signs=ABSTAIN_SIGNS if signs else None,
                            sample_weight=balanced(y, english) if balance else None)


def held_out_margins(x: np.ndarray, y: np.ndarray, parts: np.ndarray, tested, fit=fit_abstention,
                     other: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Each tested part's logit minus the threshold of a model fit on the other parts (NaN where not
    tested); with `other` (the same questions' features on another index, NaN rows where missing) the same
    models' margins there too: held-out figures of new questions on a larger index."""
    margins = np.full(len(y), np.nan)
    other_margins = None if other is None else np.full(len(y), np.nan)
    for part in tested:
        train = parts != part
        w = fit(x[train], y[train])
        above = threshold_for(x[train] @ w, y[train])
        margins[~train] = x[~train] @ w - above
        if other is not None:
            other_margins[~train] = other[~train] @ w - above
    return margins, other_margins


def cross_validated_abstention(x, y, kinds, drop: int | None = None, language: str = "", by_source=False,
                               fit=fit_abstention, shift: float = 0.0, other: np.ndarray | None = None) -> dict:
    """Shares abstained, each fold decided by a model fit on the other folds (by_source: only the English
    sets, decided by a model fit on the rest); `shift` moves every threshold by this much (logit) for the
    trade-off curve; with `other` (`aligned` features on another index) the shares there."""
    x = x.copy()
    if drop is not None:
        x[:, drop] = 0.0
    parts = np.array([k[3] if by_source else k[2] for k in kinds])
    margins, other_margins = held_out_margins(x, y, parts, ["en"] if by_source else sorted(set(parts)), fit, other)
    m = margins if other is None else other_margins
    keep = ~np.isnan(m)
    if language:  # the shares among the questions of one language
        keep &= (x[:, ENGLISH] == 1) == (language == "en")
    return abstain_shares(m[keep] < shift, np.array([k[0] for k in kinds])[keep])


def aligned(x, kinds, other_x, other_kinds) -> np.ndarray:
    """`other_x`'s rows in the order of `x`'s questions (NaN where a question has no quote there)."""
    row = {(k[4], k[0]): n for n, k in enumerate(other_kinds)}
    out = np.full(x.shape, np.nan)
    for n, k in enumerate(kinds):
        if (k[4], k[0]) in row:
            out[n] = other_x[row[(k[4], k[0])]]
    return out


VARIANTS = {  # the abstention fit with and without its two methods (held-out figures: `held_out_table`)
    "default (signs, languages balanced)": fit_abstention,
    "free signs": lambda x, y: fit_abstention(x, y, signs=False),
    "not balanced": lambda x, y: fit_abstention(x, y, balance=False),
    "free signs, not balanced": lambda x, y: fit_abstention(x, y, signs=False, balance=False),
}


def held_out_table(x, y, kinds, other=None) -> None:
    """Each variant's held-out shares, and the default's trade-off curve (every threshold shifted)."""
    def line(**kw):
        cells = [cross_validated_abstention(x, y, kinds, **kw), cross_validated_abstention(x, y, kinds, by_source=True, **kw)]
        if other is not None:
            cells.append(cross_validated_abstention(x, y, kinds, other=other, **kw))
        return "  ".join(str(c) for c in cells)
    print(f"held-out: {FOLDS}-fold | English sets fit on the rest" + (" | folds on the transfer index" if other is not None else ""))
    for name, fit in VARIANTS.items():
        print(f"  {name:38s} {line(fit=fit)}")
    for shift in (-1.0, -0.5, -0.25, 0.25, 0.5, 1.0):
        print(f"  default, threshold {shift:+.2f} logit      {line(shift=shift)}")
