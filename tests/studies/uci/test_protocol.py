"""The UCI protocol: tie-break and splits on a scripted classifier, skip-if-done, an end-to-end
run (3 synthetic datasets × 3 classifiers through the real configs) checked against an
independent reimplementation, and kill-halfway + rerun giving byte-identical records and table."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from sklearn.svm import SVC

from nvk.data.uci import load_uci
from nvk.studies.uci.classifiers import Classifier, KernelSVC
from nvk.studies.uci.protocol import run_cell
from nvk.studies.uci.records import record_path
from nvk.utils.io import read_json
from tests.conftest import ROOT, compose_cfg
from tests.data.uci_fixture import write_uci_dataset

TOY = ROOT / "tests" / "data" / "fixtures" / "uci"


class Scripted(Classifier):
    """Accuracy looked up from a script; remembers which rows it was given."""

    name = "scripted"

    def __init__(self, val: list[float], fold: float = 0.75) -> None:
        self.val, self.fold, self.calls = val, fold, []

    def settings(self):
        return [{"i": i} for i in range(len(self.val))]

    def spec(self):
        return {"val": self.val}

    def accuracy(self, data, setting, train, test):
        self.calls.append((setting["i"], train, test))
        return self.fold if len(self.calls) > len(self.val) else self.val[setting["i"]]


def test_first_best_wins_and_folds_use_it(tmp_path):
    data = load_uci(TOY, "toy")
    clf = Scripted([0.5, 0.8, 0.8, 0.7])
    rec = run_cell(data, clf, tmp_path)
    assert rec["best_index"] == 1 and rec["best"] == {"i": 1} and rec["val_acc"] == 0.8
    assert rec["val_accs"] == [0.5, 0.8, 0.8, 0.7]
    sets = data.index_sets
    for _, tr, te in clf.calls[:4]:
        assert torch.equal(tr, sets.tune_train) and torch.equal(te, sets.tune_val)
    assert [c[0] for c in clf.calls[4:]] == [1, 1, 1, 1]
    for (_, tr, te), (ftr, fte) in zip(clf.calls[4:], sets.folds):
        assert torch.equal(tr, ftr) and torch.equal(te, fte)
    assert rec["fold_accs"] == [0.75] * 4 and rec["test_acc"] == 0.75
    side = read_json(tmp_path / "_runs" / "scripted" / "toy.json")
    assert side["n_settings"] == 4 and "seconds" in side and "git" in side


def test_done_cells_are_skipped_and_other_specs_refused(tmp_path):
    data = load_uci(TOY, "toy")
    first = run_cell(data, Scripted([0.5, 0.6]), tmp_path)
    again = Scripted([0.5, 0.6])
    assert run_cell(data, again, tmp_path) == first and again.calls == []
    with pytest.raises(ValueError, match="another spec"):
        run_cell(data, Scripted([0.5, 0.7]), tmp_path)
    other = data.__class__(data.meta, data.x + 1, data.y, data.index_sets)  # same name
    with pytest.raises(ValueError, match="other data for 'toy'"):
        run_cell(other, Scripted([0.5, 0.6]), tmp_path)


def make_collection(root: Path) -> list[str]:
    """Three small learnable datasets (2-3 classes) in the collection's format."""
    names = []
    for s, (n, d, k) in enumerate([(36, 3, 2), (44, 4, 3), (40, 2, 2)]):
        rng = np.random.default_rng(10 + s)
        x = rng.standard_normal((n, d))
        score = x @ rng.standard_normal(d) + 0.3 * rng.standard_normal(n)
        y = np.digitize(score, np.quantile(score, np.linspace(0, 1, k + 1)[1:-1]))
        p = rng.permutation(n)
        folds = [(np.sort(np.delete(p, part)), np.sort(part))
                 for part in np.array_split(p, 4)]  # fmt: skip
        name = f"syn{s}"
        write_uci_dataset(root, name, x, y, (p[: n // 2], p[n // 2 :]), folds)
        names.append(name)
    return names


SMALL = {
    "ntk": ["uci_classifier.grid=[{depth:[1,3],frozen_layers:[0]},{depth:[2],frozen_layers:[1]}]",
            "uci_classifier.C=[0.1,10.0]"],
    "h_laplace": ["uci_classifier.grid=[{c:[0.5,2.0]}]", "uci_classifier.C=[1.0,100.0]"],
    "random_forest": ["uci_classifier.estimator.n_estimators=5"],
}  # fmt: skip


def run_cells(uci_dir, records, cells, tmp_path):
    """Run cells through the real configs (composed once per classifier: composing is slow)."""
    cfgs = {}
    for ds, clf in cells:
        if clf not in cfgs:
            over = ["experiment=uci_table1", f"paths.uci_dir={uci_dir}", f"uci_classifier={clf}",
                    f"task.records_dir={records}", *SMALL[clf]]  # fmt: skip
            cfgs[clf] = compose_cfg("train", over, tmp_path)
        cfg = cfgs[clf]
        cfg.data.name = ds
        out = instantiate(cfg.task)(cfg)
        assert set(out) == {"uci/val_acc", "uci/test_acc"}


def make_table(records, out, tmp_path):
    cfg = compose_cfg("eval", ["task=uci_table", f"task.records_dir={records}",
                               f"task.out_dir={out}", "logger=none"], tmp_path)  # fmt: skip
    return instantiate(cfg.task)(cfg)


def h_laplace_np(a: np.ndarray, b: np.ndarray, c: float) -> np.ndarray:
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    ua, ub = a / na[:, None], b / nb[:, None]
    r = np.sqrt(np.maximum(((ua[:, None, :] - ub[None, :, :]) ** 2).sum(-1), 0))
    return na[:, None] * nb[None, :] * np.exp(-c * r)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The full 3 × 3 sweep and its table, uninterrupted."""
    tmp = tmp_path_factory.mktemp("uci_e2e")
    names = make_collection(tmp / "uci")
    cells = [(d, c) for d in names for c in SMALL]
    run_cells(tmp / "uci", tmp / "records", cells, tmp)
    metrics = make_table(tmp / "records", tmp / "table", tmp)
    return tmp, names, cells, metrics


def test_end_to_end_three_datasets_three_classifiers(sweep):
    tmp, names, _, metrics = sweep
    assert set(metrics) == {f"uci/{c}/acc" for c in SMALL}
    md = (tmp / "table" / "table.md").read_text()
    assert all(f"| {c} |" in md for c in SMALL) and "3 classifiers, 3 datasets" in md
    # one cell redone independently: numpy H-Laplace Gram + scikit-learn SVC, same protocol
    data = load_uci(tmp / "uci", names[1])
    rec = read_json(record_path(tmp / "records", "h_laplace", names[1]))
    x, y, sets = data.x.numpy(), data.y.numpy(), data.index_sets

    def score(c, C, tr, te):
        clf = SVC(kernel="precomputed", C=C).fit(h_laplace_np(x[tr], x[tr], c), y[tr])
        return np.mean(clf.predict(h_laplace_np(x[te], x[tr], c)) == y[te])

    grid = [(c, C) for c in (0.5, 2.0) for C in (1.0, 100.0)]
    val = [score(c, C, sets.tune_train, sets.tune_val) for c, C in grid]
    c, C = grid[int(np.argmax(val))]
    assert rec["best"] == {"c": c, "C": C}
    assert rec["val_accs"] == pytest.approx(val, abs=1e-11)
    folds = [score(c, C, tr, te) for tr, te in sets.folds]
    assert rec["fold_accs"] == pytest.approx(folds, abs=1e-11)
    assert rec["test_acc"] == pytest.approx(np.mean(folds), abs=1e-11)


def test_kill_halfway_and_rerun_is_byte_identical(sweep, tmp_path, monkeypatch):
    ref, _, cells, _ = sweep
    uci, records = ref / "uci", tmp_path / "records"
    run_cells(uci, records, cells[:4], tmp_path)  # the first half finishes

    calls = {"n": 0}
    real = KernelSVC.accuracy

    def dies(self, *a, **k):  # the job is killed in the middle of cell 5
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt("killed")
        return real(self, *a, **k)

    monkeypatch.setattr(KernelSVC, "accuracy", dies)
    with pytest.raises(KeyboardInterrupt):
        run_cells(uci, records, cells[4:5], tmp_path)
    assert not record_path(records, cells[4][1], cells[4][0]).exists()
    monkeypatch.setattr(KernelSVC, "accuracy", real)

    run_cells(uci, records, cells, tmp_path)  # the rerun: skips 4 cells, redoes the rest
    make_table(records, tmp_path / "table", tmp_path)
    want = sorted(p.relative_to(ref / "records") for p in (ref / "records").rglob("*.json")
                  if "_runs" not in p.parts)  # fmt: skip
    got = sorted(p.relative_to(records) for p in records.rglob("*.json") if "_runs" not in p.parts)
    assert got == want and len(got) == 9
    for rel in want:
        assert (records / rel).read_bytes() == (ref / "records" / rel).read_bytes(), rel
    for f in ("table.md", "table.csv", "accuracies.csv", "stats.json", "figure3.png",
              "cd_diagram.png"):  # fmt: skip
        assert (tmp_path / "table" / f).read_bytes() == (ref / "table" / f).read_bytes(), f


def test_cell_task_needs_uci_data_and_a_classifier(tmp_path):
    cfg = compose_cfg("train", [f"paths.uci_dir={TOY}", "data=uci", "data.name=toy",
                                "task=uci_cell"], tmp_path)  # fmt: skip
    with pytest.raises(ValueError, match="needs a classifier"):
        instantiate(cfg.task)(cfg)
    cfg = compose_cfg("train", ["task=uci_cell", "uci_classifier=ntk"], tmp_path)
    with pytest.raises(ValueError, match="needs data=uci"):
        instantiate(cfg.task)(cfg)


class Capped(Scripted):
    """Scripted, with an iteration cap that the listed settings reach (as KernelSVC reports)."""

    def __init__(self, val, capped_at=(), max_iter=100):
        super().__init__(val)
        self.max_iter, self.capped_at = max_iter, set(capped_at)

    def accuracy(self, data, setting, train, test):
        hit = setting["i"] in self.capped_at
        self.fit_info = {"svc_s": 0.01, "n_iter": self.max_iter if hit else 7, "capped": hit}
        return super().accuracy(data, setting, train, test)


def test_capped_fits_are_recorded_and_redone_under_another_cap(tmp_path):
    data = load_uci(TOY, "toy")
    rec = run_cell(data, Capped([0.5, 0.8, 0.6], capped_at={0, 1}), tmp_path)
    # the tuning fits of settings 0 and 1, then the four folds of the chosen setting 1
    want = [
        {"split": "tune", "index": 0, "n_iter": 100},
        {"split": "tune", "index": 1, "n_iter": 100},
    ] + [{"split": f"fold{f}", "index": 1, "n_iter": 100} for f in range(4)]
    assert rec["max_iter"] == 100 and rec["capped_fits"] == want
    side = read_json(tmp_path / "_runs" / "scripted" / "toy.json")
    assert [(f["split"], f["index"], f["capped"]) for f in side["fits"]] == [
        ("tune", 0, True), ("tune", 1, True), ("tune", 2, False)] + [
        (f"fold{f}", 1, True) for f in range(4)]  # fmt: skip
    same = Capped([0.5, 0.8, 0.6], capped_at={0, 1})
    assert run_cell(data, same, tmp_path) == rec and same.calls == []  # same cap: done
    higher = Capped([0.5, 0.8, 0.6], max_iter=10_000)  # another cap: recomputed
    again = run_cell(data, higher, tmp_path)
    assert len(higher.calls) == 7 and again["capped_fits"] == [] and again["max_iter"] == 10_000
    # a record without capped fits is what any cap gives: kept
    lower = Capped([0.5, 0.8, 0.6], max_iter=50)
    assert run_cell(data, lower, tmp_path) == again and lower.calls == []


def test_records_from_before_the_cap_count_as_uncapped(tmp_path):
    data = load_uci(TOY, "toy")
    old = run_cell(data, Scripted([0.5, 0.6]), tmp_path)  # no max_iter: no cap fields
    assert "max_iter" not in old and "capped_fits" not in old
    capped = Capped([0.5, 0.6], capped_at={0})
    assert run_cell(data, capped, tmp_path) == old and capped.calls == []


def test_damaged_record_and_sidecar_are_set_aside_and_recomputed(sweep, tmp_path, caplog):
    """A record and a sidecar cut short (full disk, bad copy): the sweep names them, moves them
    aside, recomputes those two cells byte-identically and leaves the other seven alone; the
    table step names a damaged record and skips it."""
    ref, _, cells, _ = sweep
    records = tmp_path / "records"
    shutil.copytree(ref / "records", records)
    (ds1, clf1), (ds2, clf2) = cells[1], cells[5]
    rec, side = record_path(records, clf1, ds1), records / "_runs" / clf2 / f"{ds2}.json"
    rec.write_bytes(rec.read_bytes()[:40])
    side.write_bytes(side.read_bytes()[:25])
    damaged = {rec, record_path(records, clf2, ds2)}
    files = [p for p in records.rglob("*.json") if "_runs" not in p.parts]
    stamps = {p: p.stat().st_mtime_ns for p in files if p not in damaged}
    with caplog.at_level(logging.WARNING, logger="nvk"):
        run_cells(ref / "uci", records, cells, tmp_path)
    for path in (rec, side):
        assert str(path) in caplog.text and len(list(path.parent.glob(path.name + ".damaged-*")))
    for p in files:
        assert p.read_bytes() == (ref / "records" / p.relative_to(records)).read_bytes(), p
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # not rewritten
    assert read_json(side)["n_settings"] > 0  # the sidecar is back

    rec.write_text("{")  # the table cannot recompute: it names the file and goes on
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="nvk"):
        make_table(records, tmp_path / "table", tmp_path)
    assert str(rec) in caplog.text and rec.read_text() == "{"
    assert "3 classifiers, 3 datasets" not in (tmp_path / "table" / "table.md").read_text()
