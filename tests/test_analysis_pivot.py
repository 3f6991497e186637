from analysis.runs.load import load_run
from analysis.stats.summary import asgi_vs_wsgi, cell_medians
from analysis.questions.version_pivot import main, pivots

FROZEN = "tests/data/runs/20250101T120000Z-frozen"


def test_pivot_holds_the_same_ratios_as_the_comparison(capsys):
    samples, manifest = load_run(FROZEN)
    ratios = asgi_vs_wsgi(cell_medians(samples), manifest["baseline_server"])
    tables = pivots(FROZEN)
    assert ratios.server.nunique() > 1      # one set of tables per compared server
    for row in ratios.itertuples():
        table = tables[f"p50 ratio {row.server}/gunicorn-sync"]
        assert table.loc[row.python, row.django] == round(row.p50_ratio, 2)
    assert main([FROZEN]) == 0 and "p50 difference ms" in capsys.readouterr().out
    assert main([]) == 2
