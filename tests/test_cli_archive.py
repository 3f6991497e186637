"""`lab archive` and `lab verify` as a user calls them."""
import io
import tarfile

from typer.testing import CliRunner

from runner.cli import app


def test_archive_then_verify_then_tamper(run_dir, tmp_path):  # noqa: F811
    runner = CliRunner()
    out = tmp_path / "archives"
    res = runner.invoke(app, ["archive", str(run_dir), "--out", str(out)])
    assert res.exit_code == 0, res.output
    (path,) = out.glob("*.tar.gz")
    assert str(path) in res.output.replace("\n", "")
    ok = runner.invoke(app, ["verify", str(path)])
    assert ok.exit_code == 0 and "every member matches" in ok.output

    again = runner.invoke(app, ["archive", str(run_dir), "--out", str(out)])
    assert again.exit_code == 1  # never overwritten

    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(path) as src, tarfile.open(bad, "w:gz") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if m.name.endswith("results.parquet"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            if data is not None:
                m.size = len(data)
                dst.addfile(m, io.BytesIO(data))
            else:
                dst.addfile(m)
    res = runner.invoke(app, ["verify", str(bad)])
    assert res.exit_code == 1 and "results.parquet" in res.output
