"""Continual-inference metrics against small hand-computed cases."""

import itertools

import numpy as np
import pytest
import torch

from spiking_nr import metrics as m


def _one_lane(*columns):
    return [np.asarray(c)[:, None] for c in columns]


# Segment [a, b] with label 1.  a = [0, 4, 0]: p = (0.0177, 0.9647, 0.0177).
# b = [6, 0, 5.9]: p = (0.5245, 0.0013, 0.4742).
# mean softmax = (0.271, 0.483, 0.246) -> 1;  mean logits = (3, 2, 2.95) -> 0;
# votes: class 1 once, class 0 once -> tie -> lowest index 0;  last step -> 0.
RULE_LOGITS = np.array([[[0.0, 4.0, 0.0]], [[6.0, 0.0, 5.9]]])


@pytest.mark.parametrize("rule, expected", [("mean_softmax", 1), ("mean_logits", 0), ("vote", 0),
                                            ("last", 0)])
def test_decision_rules(rule, expected):
    seg, tgt = np.zeros((2, 1), int), np.ones((2, 1), int)
    s = m.segment_scores(RULE_LOGITS, seg, tgt, last_k=None, rule=rule)
    assert s.prediction.tolist() == [expected]
    assert s.accuracy == float(expected == 1)


def test_last_k_window_changes_the_decision():
    seg, tgt = np.zeros((2, 1), int), np.ones((2, 1), int)
    assert m.segment_scores(RULE_LOGITS, seg, tgt, last_k=1).prediction[0] == 0
    assert m.segment_scores(RULE_LOGITS, seg, tgt, last_k=2).prediction[0] == 1
    probs = m.softmax(RULE_LOGITS[:, 0])
    s = m.segment_scores(RULE_LOGITS, seg, tgt, last_k=None)
    assert s.confidence[0] == pytest.approx(probs.mean(0).max())
    assert s.entropy[0] == pytest.approx(-(probs.mean(0) * np.log(probs.mean(0))).sum())


def test_segments_positions_lanes_and_edges():
    # lane 0: seg 0 (steps 0-2, class 2), seg 1 (3-4, distractor), seg 2 (5, class 0, cut at end)
    # lane 1: seg 7 (0-5, class 1) -- ids need not start at 0, only change at boundaries
    seg = np.array([[0, 7], [0, 7], [0, 7], [1, 7], [1, 7], [2, 7]])
    tgt = np.array([[2, 1], [2, 1], [2, 1], [-1, 1], [-1, 1], [0, 1]])
    logits = np.zeros((6, 2, 3))
    logits[:, 0, 2] = 3.0  # lane 0 always says 2
    logits[:, 1, 0] = 3.0  # lane 1 always says 0 (wrong)
    s = m.segment_scores(logits, seg, tgt, tgt >= 0, last_k=10)
    assert s.lane.tolist() == [0, 0, 0, 1]
    assert s.position.tolist() == [0, 1, 2, 0]
    assert s.start.tolist() == [0, 3, 5, 0] and s.end.tolist() == [3, 5, 6, 6]
    assert s.n_steps.tolist() == [3, 2, 1, 6]
    assert s.label.tolist() == [2, -1, 0, 1]
    assert s.is_target.tolist() == [True, False, True, True]
    assert s.at_edge.tolist() == [True, False, True, True]
    assert s.prediction.tolist() == [2, 2, 2, 0]
    assert s.correct.tolist() == [True, False, False, False]
    assert s.accuracy == pytest.approx(1 / 3)
    inner = s.select(~s.at_edge)
    assert len(inner) == 1 and inner.label.tolist() == [-1]


def test_accuracy_by_position_index_and_window():
    # one lane, six 2-step segments: target, distractor, target, target, distractor, target
    labels = [0, -1, 1, 2, -1, 0]
    preds = [0, 0, 1, 0, 0, 0]  # correct, -, correct, wrong, -, correct
    tgt = np.repeat(labels, 2)[:, None]
    seg = np.repeat(np.arange(6), 2)[:, None]
    logits = np.eye(3)[np.repeat(preds, 2)][:, None] * 5
    s = m.segment_scores(logits, seg, tgt)
    np.testing.assert_allclose(m.accuracy_by_position(s, [0, 2, 4, 6]), [1.0, 0.5, 1.0])
    np.testing.assert_allclose(m.accuracy_by_position(s, [1, 2, 3]), [np.nan, 1.0])
    pos, acc, n = m.accuracy_by_segment_index(s)
    assert pos.tolist() == [0, 2, 3, 5] and acc.tolist() == [1, 1, 0, 1] and n.tolist() == [1] * 4
    # windows of 4 steps: segments end at steps 2,4 | 6,8 | 10,12 -> targets (0) | (2,3) | (5)
    starts, acc, n = m.accuracy_by_window(s, 4, n_steps=12)
    assert starts.tolist() == [0, 4, 8] and n.tolist() == [1, 2, 1]
    np.testing.assert_allclose(acc, [1.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="increasing"):
        m.accuracy_by_position(s, [0, 0, 3])
    # streams of the first 1, 2, 3 and 100 target segments: {0} | {0, 2} | {0, 2, 3} | all four
    np.testing.assert_allclose(m.accuracy_on_stream_lengths(s, [1, 2, 3, 100]), [1.0, 1.0, 2 / 3, 0.75])
    assert s.target_position.tolist() == [0, -1, 1, 2, -1, 3]
    with pytest.raises(ValueError, match="positive"):
        m.accuracy_on_stream_lengths(s, [0, 10])


def test_step_accuracy_and_by_window():
    tgt = np.array([[0], [0], [-1], [1], [1], [1]])
    logits = np.eye(2)[[0, 1, 0, 1, 1, 0]][:, None] * 3.0
    assert m.step_accuracy(logits, tgt) == pytest.approx(3 / 5)
    informative = np.array([[0], [1], [0], [1], [1], [1]], bool)
    assert m.step_accuracy(logits, tgt, informative) == pytest.approx(2 / 4)
    starts, acc = m.step_accuracy_by_window(logits, tgt, 3)
    assert starts.tolist() == [0, 3]
    np.testing.assert_allclose(acc, [1 / 2, 2 / 3])
    assert np.isnan(m.step_accuracy(logits, np.full((6, 1), -1)))


def test_auroc_hand_cases_and_brute_force():
    assert m.auroc([0.9, 0.4], [0.5, 0.1]) == pytest.approx(3 / 4)
    assert m.auroc([0.5], [0.5, 0.2]) == pytest.approx((0.5 + 1) / 2)
    assert m.auroc([1, 2], [3]) == 0.0
    assert np.isnan(m.auroc([], [1.0]))
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 40), rng.integers(0, 5, 30)  # many ties
    pairs = [1.0 if p > q else 0.5 if p == q else 0.0 for p, q in itertools.product(pos, neg)]
    assert m.auroc(pos, neg) == pytest.approx(np.mean(pairs))
    with pytest.raises(ValueError, match="NaN"):
        m.auroc([np.nan], [1.0])


def test_confusion_and_macro_f1():
    y = np.array([0, 0, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 0])
    cm = m.confusion_matrix(y, p, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    # F1: class 0: 2*1/(2+1+1)=0.5; class 1: 2*2/(4+1+0)=0.8; class 2: 0
    assert m.macro_f1(y, p, 3) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        m.confusion_matrix([3], [0], 3)


def _target_distractor_gap_target():
    # lane: target (confident, class 0) | distractor (uniform) | gap (mildly confident) |
    # target (less confident than the first, more than the gap)
    logits = np.zeros((8, 1, 2))
    logits[0:2, 0, 0] = 4.0
    logits[4:6, 0, 0] = 0.5
    logits[6:8, 0, 1] = 1.0
    seg = np.repeat([0, 1, 2, 3], 2)[:, None]
    tgt = np.repeat([0, -1, -1, 1], 2)[:, None]
    gap = np.repeat([False, False, True, False], 2)[:, None]
    return logits, seg, tgt, gap


def test_distractor_and_gap_rejection_are_scored_apart():
    logits, seg, tgt, gap = _target_distractor_gap_target()
    r = m.distractor_rejection(logits, tgt, seg, is_gap=gap, level="segment")
    assert r["auroc"] == 1.0 and r["gap_auroc"] == 1.0 and r["reasons"] == {}
    assert (r["n_target"], r["n_distractor"], r["n_gap"]) == (2, 1, 1)
    assert r["entropy_distractor"] == pytest.approx(np.log(2))
    assert r["entropy_distractor_normalised"] == pytest.approx(1.0)
    p_gap = m.softmax(np.array([0.5, 0.0]))
    assert r["entropy_gap"] == pytest.approx(-(p_gap * np.log(p_gap)).sum())
    steps = m.distractor_rejection(logits, tgt, seg, is_gap=gap, level="step")
    assert (steps["n_target"], steps["n_distractor"], steps["n_gap"]) == (4, 2, 2)
    # without is_gap the gap counts as a distractor and the gap metrics are NaN with a reason
    mixed = m.distractor_rejection(logits, tgt, seg)
    assert mixed["n_distractor"] == 2 and np.isnan(mixed["gap_auroc"])
    assert "is_gap" in mixed["reasons"]["gap"]


def test_no_negatives_give_nan_with_a_reason_not_a_fake_score():
    logits, seg, tgt, gap = _target_distractor_gap_target()
    no_gap = m.stream_report(logits, tgt, seg, tgt >= 0, 2, is_gap=np.zeros_like(gap))
    assert no_gap["n_gaps"] == 0 and np.isnan(no_gap["gap_auroc"]) and np.isnan(no_gap["gap_entropy"])
    assert no_gap["reasons"]["gap_auroc"] == "no gap segments in the evaluated stream"
    targets_only = np.repeat([0, 1, 0, 1], 2)[:, None]
    r = m.stream_report(logits, targets_only, seg, None, 2, is_gap=np.zeros_like(gap))
    assert np.isnan(r["distractor_auroc"]) and np.isnan(r["distractor_entropy"])
    assert "no distractor" in r["reasons"]["distractor_auroc"]
    assert np.isnan(r["distractor_auroc_steps"]) and "distractor_auroc_steps" in r["reasons"]
    none = m.stream_report(logits, np.full((8, 1), -1), seg, None, 2, is_gap=gap)
    assert np.isnan(none["segment_accuracy"]) and np.isnan(none["distractor_auroc"])
    assert "no target" in none["reasons"]["distractor_auroc"]


def test_masks_of_the_wrong_shape_or_type_are_clear_errors():
    logits, seg, tgt, gap = _target_distractor_gap_target()
    with pytest.raises(ValueError, match=r"is_gap must be a \[T, B\] = \(8, 1\) mask"):
        m.stream_report(logits, tgt, seg, None, 2, is_gap=gap[:5])
    with pytest.raises(TypeError, match="is_gap must be a boolean"):
        m.segment_scores(logits, seg, tgt, is_gap=gap * 0.5)
    with pytest.raises(ValueError, match="is_target must have shape"):
        m.stream_report(logits, tgt, seg, np.ones((8, 2), bool), 2)


def test_positions_count_samples_not_gaps():
    logits, seg, tgt, gap = _target_distractor_gap_target()
    s = m.segment_scores(logits, seg, tgt, is_gap=gap)
    assert s.position.tolist() == [0, 1, -1, 2]
    assert s.target_position.tolist() == [0, -1, -1, 1]
    assert s.is_distractor.tolist() == [False, True, False, False]


def test_stream_report_keys_and_values():
    logits, seg, tgt, gap = _target_distractor_gap_target()
    r = m.stream_report(logits, tgt, seg, tgt >= 0, 2, last_k=2, is_gap=gap)
    assert r["segment_accuracy"] == 1.0 and r["macro_f1"] == 1.0 and r["step_accuracy"] == 1.0
    assert r["distractor_auroc"] == 1.0 and r["gap_auroc"] == 1.0 and r["n_target_segments"] == 2
    assert (r["n_distractor_segments"], r["n_gaps"]) == (1, 1) and r["reasons"] == {}
    assert r["distractor_entropy_normalised"] == pytest.approx(1.0)


def test_torch_tensors_are_accepted():
    seg, tgt = torch.zeros(2, 1, dtype=torch.long), torch.ones(2, 1, dtype=torch.long)
    logits = torch.tensor(RULE_LOGITS, requires_grad=True)
    assert m.segment_scores(logits, seg, tgt, last_k=None).prediction.tolist() == [1]
    assert m.firing_rates(torch.ones(4, 2, 3)).tolist() == [1.0, 1.0, 1.0]


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match=r"\[T, B, C\]"):
        m.segment_scores(np.zeros((4, 3)), np.zeros((4, 1)), np.zeros((4, 1), int))
    with pytest.raises(ValueError, match="segment_id must have shape"):
        m.segment_scores(np.zeros((4, 1, 3)), np.zeros((3, 1)), np.zeros((4, 1), int))
    with pytest.raises(TypeError, match="integer class"):
        m.segment_scores(np.zeros((4, 1, 3)), np.zeros((4, 1)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"\[-1, 2\]"):
        m.segment_scores(np.zeros((4, 1, 3)), np.zeros((4, 1)), np.full((4, 1), 3))
    with pytest.raises(ValueError, match="rule must be one of"):
        m.segment_scores(np.zeros((4, 1, 3)), np.zeros((4, 1)), np.zeros((4, 1), int), rule="max")
    with pytest.raises(ValueError, match="NaN"):
        m.step_accuracy(np.full((2, 1, 2), np.nan), np.zeros((2, 1), int))


def test_firing_rates_and_activity_summary():
    spikes = np.zeros((4, 2, 3))
    spikes[:, :, 0] = 1  # always fires
    spikes[0, 0, 1] = 1  # once in 8 lane-steps
    np.testing.assert_allclose(m.firing_rates(spikes), [1.0, 1 / 8, 0.0])
    np.testing.assert_allclose(m.firing_rates(spikes[:, 0]), [1.0, 1 / 4, 0.0])
    (row,) = m.activity_summary(spikes)
    assert row["neurons"] == 3 and row["silent_fraction"] == pytest.approx(1 / 3)
    assert row["saturated_fraction"] == pytest.approx(1 / 3)
    assert row["spikes_per_step"] == pytest.approx(1 + 1 / 8)
    rates = m.firing_rates_by_window(np.repeat([[1, 0], [0, 1]], [2, 3], axis=0), 2)
    np.testing.assert_allclose(rates, [[1, 0], [0, 1]])  # the 5th step (partial window) dropped


def test_saturation_and_state_drift():
    flat = m.saturation(np.ones((100, 3)), window=10)
    assert flat["slope_per_window"] == pytest.approx(0.0) and flat["windows"] == 10
    ramp = m.saturation(np.arange(100.0)[:, None], 10)
    assert ramp["slope_per_window"] == pytest.approx(10.0)
    assert ramp["first_window_mean"] == pytest.approx(4.5)
    assert ramp["first_window_std"] == pytest.approx(np.std(np.arange(10.0)))
    # spread growing linearly: std slope > 0, mean slope 0
    t = np.arange(200.0)
    widening = np.stack([t / 100, -t / 100], axis=1)
    w = m.saturation(widening, 20)
    assert w["slope_per_window"] == pytest.approx(0.0, abs=1e-12) and w["std_slope_per_window"] > 0
    mean, std = m.window_statistics(np.arange(8.0), 4)
    np.testing.assert_allclose(mean, [1.5, 5.5])
    zeros = np.zeros((40, 2, 3))
    drift = m.state_drift(zeros, zeros + 1, 10, spikes=zeros)
    assert set(drift) == {"voltage", "threshold", "rate"}
    assert drift["threshold"]["last_window_mean"] == 1.0
    with pytest.raises(ValueError, match="at least 2 windows"):
        m.saturation(np.ones(15), 10)
