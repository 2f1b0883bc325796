"""The abstention fit's two methods (eval/answer_fit.py): sign constraints and language-balanced weights."""
import importlib.util
from pathlib import Path

import numpy as np

_SPEC = importlib.util.spec_from_file_location("answer_fit", Path(__file__).resolve().parents[1] / "eval" / "answer_fit.py")
answer_fit = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(answer_fit)


def test_balanced_weights_give_every_language_and_class_the_same_total():
    y = np.array([1.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    english = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 1.0])
    w = answer_fit.balanced(y, english)
    # 6 questions in 4 cells: a cell of n questions weighs 6 / (4 n) each, 1.5 in total
    assert np.allclose(w, [0.5, 0.5, 0.5, 1.5, 1.5, 1.5])


def test_a_feature_whose_weight_would_take_the_wrong_sign_is_left_out():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=400)
    helper = rng.normal(size=400)
    y = (signal - helper > 0).astype(float)  # `helper` pushes against answering
    x = np.column_stack([np.ones(400), signal, helper])
    free = answer_fit.fit_standardised(x, y)
    signed = answer_fit.fit_standardised(x, y, signs=np.array([0, 1, 1]))
    assert free[1] > 0 and free[2] < 0
    assert signed[1] > 0 and signed[2] == 0.0
