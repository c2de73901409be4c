"""Probabilities and top-k, checked against plain numpy on known vectors."""

import numpy as np
import pytest

from rdk_classifier.errors import ModelOutputError
from rdk_classifier.postprocess import is_probability_vector, softmax, to_probabilities, top_k


def test_softmax_matches_definition():
    x = np.array([1.0, 2.0, 3.0, -50.0], np.float32)
    expected = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    np.testing.assert_allclose(to_probabilities(x), expected, rtol=1e-6)
    assert abs(float(softmax(np.array([1000.0, 1000.0], np.float32)).sum()) - 1.0) < 1e-6


def test_probabilities_are_not_softmaxed_again():
    p = np.random.default_rng(1).dirichlet(np.ones(1000)).astype(np.float32)
    assert is_probability_vector(p)
    np.testing.assert_array_equal(to_probabilities(p), p)


def test_logits_that_happen_to_be_positive_are_softmaxed():
    logits = np.linspace(0.0, 5.0, 1000, dtype=np.float32)
    assert not is_probability_vector(logits)
    assert abs(float(to_probabilities(logits).sum()) - 1.0) < 1e-4


def test_non_finite_output_is_an_error():
    with pytest.raises(ModelOutputError, match="1 NaN or infinite values of 2"):
        to_probabilities(np.array([0.1, np.nan], np.float32))


def test_top_k_order_and_ties():
    probs = np.array([0.1, 0.3, 0.3, 0.05, 0.25], np.float32)
    idx, scores = top_k(probs, 3)
    assert idx.tolist() == [1, 2, 4]
    np.testing.assert_allclose(scores, [0.3, 0.3, 0.25])
    assert top_k(probs, 10)[0].tolist() == [1, 2, 4, 0, 3]
    assert top_k(probs, 0)[0].size == 0


def test_top_k_agrees_with_argsort_on_random_vectors():
    rng = np.random.default_rng(7)
    for _ in range(20):
        v = rng.standard_normal(1000).astype(np.float32)
        assert top_k(v, 5)[0].tolist() == np.argsort(-v, kind="stable")[:5].tolist()
