import pytest

from ganlab.testing import check_loss


@pytest.mark.parametrize("gamma", [0.0, 10.0])
def test_loss_keeps_the_loss_contract(gamma):
    assert check_loss("example_plugin_loss", gamma=gamma).gamma == gamma
