from ganlab.testing import check_metric


def test_metric_returns_a_finite_score():
    scores = check_metric("example_plugin_mean_gap", num_images=8)
    assert 0.0 <= scores["mean_gap"] <= 2.0
