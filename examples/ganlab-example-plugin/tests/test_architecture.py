from ganlab.testing import check_architecture


def test_mlp_keeps_the_architecture_contract():
    generator, discriminator = check_architecture("example_plugin_mlp", image_shape=(16, 16, 3),
                                                  latent_dim=8, hidden=16)
    assert generator.output_shape == (None, 16, 16, 3)
    assert discriminator.output_shape == (None, 1)
