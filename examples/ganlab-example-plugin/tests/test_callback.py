from ganlab.testing import check_callback


def test_callback_writes_one_row_per_epoch(tmp_path):
    check_callback("example_plugin_csv", run_dir=tmp_path, epochs=3)
    rows = (tmp_path / "example_plugin_losses.csv").read_text().splitlines()
    assert rows[0] == "epoch,d_loss,g_loss"
    assert [row.split(",")[0] for row in rows[1:]] == ["1", "2", "3"]
