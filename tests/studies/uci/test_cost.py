"""The UCI cost report from sidecars: CPU time, wall time as the union of running intervals,
power-law cell model and SVC fit model recovered from synthetic timings that follow them."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from nvk.studies.uci.cost import cost_report, to_markdown, wall_seconds
from nvk.studies.uci.records import write_record
from nvk.studies.uci.table import build_table

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _write(root, clf, ds, n, seconds, end_s, fits=None):
    settings = [{"C": c} for c in (0.1, 10.0, 1000.0)]
    rec = {"classifier": clf, "dataset": ds, "n_rows": n, "test_acc": 0.5, "fold_accs": [0.5] * 4,
           "spec_hash": "x", "settings": settings}  # fmt: skip
    if fits is not None:
        rec["capped_fits"] = [{"split": f["split"], "index": f["index"], "n_iter": f["n_iter"]}
                              for f in fits if f["capped"]]  # fmt: skip
    side = {"seconds": {"total": seconds},
            "finished": (T0 + dt.timedelta(seconds=end_s)).isoformat()}  # fmt: skip
    if fits is not None:
        side["fits"] = fits
    write_record(root, rec, side)


def test_wall_time_is_the_union_of_running_intervals():
    import pandas as pd

    cells = pd.DataFrame({"end": [10.0, 12.0, 30.0, 31.0], "seconds": [10.0, 4.0, 5.0, 1.0]})
    # [0, 10] ∪ [8, 12] ∪ [25, 30] ∪ [30, 31] = 12 + 6
    assert wall_seconds(cells) == pytest.approx(18.0)


def test_cost_model_recovers_power_laws(tmp_path):
    root = tmp_path / "records"
    rng = np.random.default_rng(0)
    end = 0.0
    for i, n in enumerate([100, 300, 1000, 3000]):
        end += 2e-4 * n**1.5 + 5  # one cell after the other with 5 s pauses
        fits = []
        for idx, C in enumerate((0.1, 10.0, 1000.0)):
            for split in ("tune", "fold0"):
                nt, noise = n // 2, np.exp(0.01 * rng.standard_normal())
                fits.append({"split": split, "index": idx, "gram_s": 0.1 if split == "tune" else 0,
                             "svc_s": 3e-8 * nt**2.2 * C**0.1 * noise,
                             "n_train": nt, "n_iter": 5, "capped": False})  # fmt: skip
        fits[-1]["capped"] = bool(i == 3)
        _write(root, "k", f"d{i}", n, 2e-4 * n**1.5, end, fits)
    _write(root, "f", "d0", 100, 0.1, 5.2)  # no per-fit timings; runs inside k/d0 [5, 5.2]
    rep = cost_report(root)
    assert rep["cells"] == 5 and rep["fits"] == 24 and rep["capped_fit_count"] == 1
    cell_s = sum(2e-4 * n**1.5 for n in [100, 300, 1000, 3000])
    assert rep["cpu_hours"] == pytest.approx((cell_s + 0.1) / 3600)
    assert rep["wall_hours"] == pytest.approx(cell_s / 3600)
    a, b = rep["per_classifier"]["k"]["model"]
    assert a == pytest.approx(2e-4, rel=1e-6) and b == pytest.approx(1.5, abs=1e-9)
    m = rep["svc_model"]
    assert m["fits"] == 23 and m["b_n"] == pytest.approx(2.2, abs=0.02)
    assert m["c_C"] == pytest.approx(0.1, abs=0.005)
    md = to_markdown(rep)
    assert "| k | 4 |" in md and "1 reached the cap" in md and "Median SVC seconds" in md
    build_table(root, tmp_path / "t", figures=True)
    assert (tmp_path / "t" / "cost.md").read_text() == md
    assert (tmp_path / "t" / "cost.png").read_bytes()[:4] == b"\x89PNG"
