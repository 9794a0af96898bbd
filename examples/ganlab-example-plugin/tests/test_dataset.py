import pytest

from ganlab.testing import check_dataset


def test_blobs_keep_the_dataset_contract():
    dataset = check_dataset("example_plugin_blobs", count=16, image_size=8, channels=3)
    assert dataset.num_examples() == 16
    assert dataset.image_shape == (8, 8, 3)


def test_bad_params_are_rejected():
    with pytest.raises(Exception, match="channels must be one of 1, 3"):
        check_dataset("example_plugin_blobs", channels=2)
