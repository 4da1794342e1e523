"""Few-shot learning on real data (fewshot.py) and its random training episodes (tasks.episode_batch)."""

import json

import pytest
import torch
from conftest import REPO

from appendable_memory import AppendableMemory
from appendable_memory import fewshot
from appendable_memory.fewshot import (
    BASELINES, TUNING, baseline_predictions, draw_episodes, evaluate_fewshot, measure_fewshot, protocol_episodes, stream_fewshot,
)
from appendable_memory.realdata import (
    BASE_CLASSES, NOVEL_CLASSES, SPLIT_PARTS, KeyEncoder, dataset_keys, load_dataset, load_digits_data, protocol_keys, split_dataset,
)
from appendable_memory.tasks import STYLE_SHOTS, base_episode_batch, episode_batch, style_episode_batch, varied_episode_batch


def test_the_digits_ship_with_scikit_learn():
    images, labels = load_digits_data()
    assert images.shape == (1797, 64) and labels.unique().tolist() == list(range(10))


def test_the_other_bundled_datasets_become_keys_of_the_same_shape():
    from appendable_memory.realdata import load_dataset

    for name, inputs, classes in (("wine", 13, 3), ("breast-cancer", 30, 2)):
        x, labels = load_dataset(name)
        assert x.shape[1] == inputs and labels.unique().tolist() == list(range(classes))
        keys, _ = dataset_keys(name)
        assert keys.shape == (len(x), 16)
        used = min(inputs, 16)  # wine has 13 floats: 13 whitened components, then the centre
        torch.testing.assert_close(keys[:, :used].std(0), torch.full((used,), 9 / 12**0.5), atol=1e-3, rtol=0)
        assert (keys[:, used:] == 4.5).all()
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="fit"):
        KeyEncoder(16).transform(x)


def test_the_encoder_is_label_free_whitened_and_placed_like_kv_keys():
    images, labels = load_digits_data()
    keys = KeyEncoder(16).fit(images)(images)
    assert keys.shape == (1797, 16)
    torch.testing.assert_close(keys.mean(0), torch.full((16,), 4.5), atol=1e-3, rtol=0)
    torch.testing.assert_close(keys.std(0), torch.full((16,), 9 / 12**0.5), atol=1e-3, rtol=0)
    shuffled = KeyEncoder(16).fit(images[torch.randperm(1797, generator=torch.Generator().manual_seed(0))])
    torch.testing.assert_close((shuffled(images) - 4.5).abs(), (keys - 4.5).abs(), atol=1e-3, rtol=1e-3)  # no label, no order: the same up to sign


def test_episodes_relabel_classes_and_never_ask_a_written_example():
    _, labels = load_digits_data()
    e = draw_episodes(labels, ways=5, shots=3, queries=4, count=50, seed=0)
    assert e.support.shape == (50, 15) and e.queries.shape == (50, 20)
    for i in range(50):
        assert not set(e.support[i].tolist()) & set(e.queries[i].tolist())
        assert sorted(e.support_labels[i].unique().tolist()) == list(range(5))
        for s, label in zip(e.support[i], e.support_labels[i]):  # one digit class <-> one label within an episode
            assert ((labels[e.support[i]] == labels[s]) == (e.support_labels[i] == label)).all()
    first_labels = {int(labels[e.support[i][e.support_labels[i] == 0][0]]) for i in range(50)}
    assert len(first_labels) > 3  # label 0 is a different digit from episode to episode
    with pytest.raises(ValueError, match="ways must be in 2..10"):
        draw_episodes(labels, ways=11, shots=1, queries=1, count=1, seed=0)


def test_baselines_are_exact_on_separated_classes():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    support = (centres.repeat_interleave(2, 0) + 0.1 * torch.randn(6, 2, generator=torch.Generator().manual_seed(0))).unsqueeze(0)
    labels = torch.tensor([[0, 0, 1, 1, 2, 2]])
    queries = (centres + 0.2).unsqueeze(0)
    for method in BASELINES:
        assert baseline_predictions(method, support, labels, queries, 3).tolist() == [[0, 1, 2]], method
    for method, (_, values) in TUNING.items():  # every value of every grid fits these (k up to the support's 6)
        for value in values:
            if method != "knn" or value == 1:
                assert baseline_predictions(method, support, labels, queries, 3, value).tolist() == [[0, 1, 2]], (method, value)
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_predictions("svd", support, labels, queries, 3)


def test_every_method_gets_the_same_episodes_and_a_row():
    rows = evaluate_fewshot({"kv-n8": AppendableMemory.from_pretrained("kv-n8")}, 5, 5, episodes=40, seed=3, validation_episodes=10)
    assert [r.method for r in rows] == ["kv-n8", *BASELINES]
    for r in rows:
        assert r.episodes == 40 and r.ci[0] <= r.accuracy <= r.ci[1] and r.protocol == "deployment" and r.dataset == "digits"
        tuned = TUNING.get(r.method)
        assert (r.hyperparameters is None) == (tuned is None) == (r.validation_accuracy is None)
        if tuned:  # the chosen value is recorded, from the grid, with its validation accuracy
            assert list(r.hyperparameters) == [tuned[0]] and r.hyperparameters[tuned[0]] in tuned[1] and r.validation_episodes == 10
    by = {r.method: r for r in rows}
    assert by["1nn"].accuracy > 0.7 and by["logreg"].accuracy > 0.7  # whitened PCA keys: about 0.83 and 0.87 over 1,000 episodes
    assert by["1nn"].accuracy == by["knn"].accuracy or by["knn"].hyperparameters["k"] > 1
    again = evaluate_fewshot({}, 5, 5, episodes=40, seed=3, validation_episodes=10)
    assert [r.accuracy for r in again] == [r.accuracy for r in rows[1:]]
    assert [r.hyperparameters for r in again] == [r.hyperparameters for r in rows[1:]]


def test_the_split_is_fixed_stratified_and_disjoint():
    for name in ("digits", "wine", "breast-cancer"):
        _, labels = load_dataset(name)
        split = split_dataset(labels)
        parts = [set(getattr(split, part).tolist()) for part in SPLIT_PARTS]
        assert sum(map(len, parts)) == len(labels) and set().union(*parts) == set(range(len(labels)))  # disjoint, complete
        for part in SPLIT_PARTS:  # about a third of every class in every part
            counts = torch.bincount(labels[getattr(split, part)], minlength=int(labels.max()) + 1)
            assert (abs(counts - torch.bincount(labels) / 3) <= 1).all(), (name, part, counts)
        assert all(torch.equal(getattr(split, p), getattr(split_dataset(labels), p)) for p in SPLIT_PARTS)  # fixed
        assert not torch.equal(split.test, split_dataset(labels, seed=1).test)
    assert split_dataset(load_digits_data()[1]).sizes() == {"encoder": 599, "validation": 599, "test": 599}
    with pytest.raises(ValueError, match="fractions"):
        split_dataset(labels, fractions=(0.5, 0.5))


def test_the_encoder_never_sees_an_example_of_an_episode(monkeypatch):
    """Deployment: the key encoder is fitted on the split's encoder part only, and no episode,
    validation or test, writes or asks an example of that part."""
    fitted = []
    fit = KeyEncoder.fit
    monkeypatch.setattr(KeyEncoder, "fit", lambda self, inputs: fitted.append(inputs.clone()) or fit(self, inputs))
    protocol_keys.cache_clear()
    try:
        evaluate_fewshot({"fewshot-best": AppendableMemory.from_pretrained("fewshot-best")}, 5, 2, episodes=10, validation_episodes=5)
        images, labels = load_digits_data()
        split = split_dataset(labels)
        assert len(fitted) == 1 and torch.equal(fitted[0], images[split.encoder])
        validation, test = protocol_episodes(labels, split, 10, 20, 5, 200, 200, seed=0)
        written_or_asked = torch.cat([e.flatten() for e in (validation.support, validation.queries, test.support, test.queries)])
        assert not set(written_or_asked.tolist()) & set(split.encoder.tolist())
        # the transductive option, labelled as such, fits every image, the tested ones included
        protocol_keys("digits", protocol="transductive")
        assert torch.equal(fitted[-1], images)
    finally:
        protocol_keys.cache_clear()
    with pytest.raises(ValueError, match="unknown protocol"):
        protocol_keys("digits", protocol="everything")


def test_tuning_never_sees_an_example_of_the_test_episodes(monkeypatch):
    """The baselines' hyperparameters are chosen on validation episodes: examples of the validation
    part only, none of a test episode's; the test part's keys are hidden (NaN) from the tuning, which
    would fail on reading one."""
    keys, labels, split = protocol_keys("digits")
    _, test = protocol_episodes(labels, split, 5, 2, 5, 10, 0, seed=0)
    tested = set(test.support.flatten().tolist()) | set(test.queries.flatten().tolist())
    assert tested <= set(split.test.tolist())
    seen = []
    tune = fewshot.tune_baseline

    def hidden(method, keys, validation, ways):
        seen.append(validation)
        keys = keys.clone()
        keys[split.test] = float("nan")
        return tune(method, keys, validation, ways)

    monkeypatch.setattr(fewshot, "tune_baseline", hidden)
    rows = evaluate_fewshot({}, 5, 2, episodes=10, validation_episodes=10, seed=0)
    assert len(seen) == len(TUNING) and all(r.hyperparameters for r in rows if r.method in TUNING)
    for validation in seen:
        used = set(validation.support.flatten().tolist()) | set(validation.queries.flatten().tolist())
        assert used <= set(split.validation.tolist()) and not used & tested


@pytest.mark.parametrize("draw, most", [(episode_batch, 50), (style_episode_batch, 200), (varied_episode_batch, 200)])
def test_random_training_episodes_have_the_structure_of_the_benchmark(draw, most):
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        b = draw(8, most, gen)
        writes, n = b.writes.shape[1], b.queries.shape[1]
        assert writes <= most and b.writes.shape[2] == 17 and n % 2 == 0
        ways = n // 2
        for i in range(8):
            assert sorted(b.writes[i, :, 16].unique().long().tolist()) == list(range(ways))
            assert sorted(b.targets[i].tolist()) == sorted(list(range(ways)) * 2)
        assert not (b.writes[:, :, None, :16] == b.queries[:, None, :, :]).all(-1).any()  # queries are never written ones
    keys = torch.cat([draw(64, most, gen).writes[..., :16].flatten() for _ in range(20)])
    assert abs(keys.mean().item() - 4.5) < 0.1 and abs(keys.std().item() - 9 / 12**0.5) < 0.15
    small = draw(4, 6, gen)
    assert small.writes.shape[1] <= 6


def test_style_episodes_reach_twenty_shots_and_split_classes_into_styles():
    """tasks.style_episode_batch: shots up to STYLE_SHOTS[1]; with several styles a class's examples
    lie farther from their class mean than the spread around one centre alone gives."""
    gen = torch.Generator().manual_seed(1)
    shots = set()
    for _ in range(60):
        b = style_episode_batch(2, 200, gen)
        shots.add(b.writes.shape[1] // (b.queries.shape[1] // 2))
    assert max(shots) > 10 and max(shots) <= STYLE_SHOTS[1] and min(shots) >= 1

    def spread_ratio(draw):  # within-class over between-class spread of the written keys, 10-way 20-shot-sized draws
        ratios = []
        for _ in range(40):
            b = draw(16, 200, gen)
            keys, labels = b.writes[..., :16], b.writes[..., 16].long()
            ways = b.queries.shape[1] // 2
            one_hot = torch.nn.functional.one_hot(labels, ways).float()  # [B, N, C]
            means = one_hot.transpose(1, 2) @ keys / one_hot.sum(1).unsqueeze(-1)  # [B, C, 16]
            within = (keys - (one_hot @ means)).square().mean()
            ratios.append(within / (means - means.mean(1, keepdim=True)).square().mean())
        return torch.stack(ratios).mean()

    assert spread_ratio(style_episode_batch) > 1.3 * spread_ratio(episode_batch)


def test_varied_episodes_give_each_class_a_covariance_of_its_own():
    """tasks.varied_episode_batch: within a class the examples spread much more along some
    directions than others (more than the classes of style_episode_batch, round blobs or mixtures of them), and the
    directions differ between the classes of one episode."""
    gen = torch.Generator().manual_seed(2)

    def shapes(draw):  # per class of 10-way 20-shot-sized draws: the eigenvalues and top eigenvector of its scatter
        ratios, overlaps = [], []
        for _ in range(30):
            b = draw(4, 200, gen)
            keys, labels = b.writes[..., :16].double(), b.writes[..., 16].long()
            if keys.shape[1] // (b.queries.shape[1] // 2) < 16:  # too few shots per class to see a shape
                continue
            for i in range(4):
                tops = []
                for c in range(b.queries.shape[1] // 2):
                    x = keys[i, labels[i] == c]
                    values, vectors = torch.linalg.eigh(torch.cov(x.T))
                    ratios.append((values[-2:].mean() / values.mean()).item())  # the longest directions against the average
                    tops.append(vectors[:, -1])
                overlaps.append((tops[0] @ tops[1]).abs().item())
        return torch.tensor(ratios).median().item(), torch.tensor(overlaps).mean().item()

    round_ratio, _ = shapes(style_episode_batch)
    varied_ratio, overlap = shapes(varied_episode_batch)
    assert varied_ratio > 1.25 * round_ratio  # 20 examples in 16 dimensions: even a round class's sample scatter is far from round (3.1)
    assert overlap < 0.5  # two classes' longest directions: far from parallel (random unit vectors in 16 dims: about 0.2)


def test_meta_training_episodes_hold_base_digits_only_with_fresh_labels():
    """tasks.base_episode_batch (the comparison's training data): real digit keys of classes 0-4
    only, labels shuffled per sample, queries never a written scan."""
    keys, labels = dataset_keys("digits")
    gen = torch.Generator().manual_seed(0)
    seen_ways, label_zero = set(), set()
    for _ in range(10):
        b = base_episode_batch(16, 25, gen)
        written = b.writes[..., :16]
        index = (written.unsqueeze(-2) == keys).all(-1).float().argmax(-1)  # [B, N]: which scan was written
        assert (written == keys[index]).all() and set(labels[index].unique().tolist()) <= set(BASE_CLASSES)
        asked = (b.queries.unsqueeze(-2) == keys).all(-1).float().argmax(-1)
        assert set(labels[asked].unique().tolist()) <= set(BASE_CLASSES)
        assert not (index.unsqueeze(2) == asked.unsqueeze(1)).any()
        for i in range(16):  # one digit <-> one label within a sample
            digit_of = dict(zip(b.writes[i, :, 16].long().tolist(), labels[index[i]].tolist()))
            assert all(labels[index[i, j]] == digit_of[int(b.writes[i, j, 16])] for j in range(b.writes.shape[1]))
            assert all(labels[asked[i, j]] == digit_of[int(b.targets[i, j])] for j in range(b.targets.shape[1]))
            label_zero.add(digit_of[0])
        seen_ways.add(b.queries.shape[1] // 2)
    assert len(label_zero) > 2 and max(seen_ways) <= len(BASE_CLASSES)


def test_a_sum_memory_forgets_nothing_of_the_order_classes_arrive_in():
    """A linear (sum-rule) memory with one-hot values holds the same state whatever the order of
    its writes, so its stream ends where writing every class at once does."""
    from appendable_memory.checkpoint import save_checkpoint
    from appendable_memory.model import MemorizerRecaller, ModelConfig

    config = ModelConfig.from_dict({"write_size": 17, "query_size": 16, "classes": 10, "network": {
        "memorizer": "linear", "memory_size": 250, "hidden_size": 32, "options": {"key_features": 25, "value_code": "one-hot"}}})
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        save_checkpoint(folder + "/sum", MemorizerRecaller(config, generator=torch.Generator().manual_seed(0)), task="episodes", items=50, start="zero")
        rows = stream_fewshot({"sum": AppendableMemory.from_pretrained(folder + "/sum")}, 2, episodes=20, seed=0)
    last = next(r for r in rows if r.method == "sum" and r.arrived == 10)
    assert abs(last.first_class - last.together) < 1e-9


def test_novel_class_episodes_draw_only_novel_digits():
    _, labels = dataset_keys("digits")
    e = draw_episodes(labels, ways=5, shots=2, queries=3, count=30, seed=0, classes=NOVEL_CLASSES)
    assert set(labels[e.support].unique().tolist()) == set(NOVEL_CLASSES) == set(labels[e.queries].unique().tolist())
    with pytest.raises(ValueError, match="ways must be in 2..5"):
        draw_episodes(labels, ways=6, shots=1, queries=1, count=1, seed=0, classes=NOVEL_CLASSES)
    with pytest.raises(ValueError, match="classes must be distinct"):
        draw_episodes(labels, ways=2, shots=1, queries=1, count=1, seed=0, classes=(5, 5, 12))


def test_the_stream_writes_one_class_at_a_time_and_measures_forgetting():

    rows = stream_fewshot({"fewshot-best": AppendableMemory.from_pretrained("fewshot-best")}, 2, episodes=20, seed=0)
    methods = ["fewshot-best", "1nn", "prototype", "finetuned"]
    assert [(r.method, r.arrived) for r in rows] == [(m, t) for t in range(1, 11) for m in methods]
    first = {r.method: r for r in rows if r.arrived == 1}
    assert first["1nn"].accuracy == first["prototype"].accuracy == 1.0  # one class written: one answer
    last = {r.method: r for r in rows if r.arrived == 10}
    assert last["finetuned"].first_class < first["finetuned"].first_class - 0.2  # the classic learner forgets
    # ... below the same learner given every class at once; order-free methods lose nothing to the order
    assert last["finetuned"].first_class < last["finetuned"].together - 0.1
    for method in ("1nn", "prototype"):
        assert last[method].together == last[method].first_class
    assert all(r.together is None for r in rows if r.arrived < 10)


def test_the_command_reports_the_memory_and_every_tuned_baseline(capsys):
    from appendable_memory.cli.main import main
    import json

    assert main(["fewshot", "--network", "fewshot-best", "--ways", "10", "--shots", "5", "--episodes", "10", "--validation-episodes", "5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in rows] == ["fewshot-best", *BASELINES]
    assert all(r["protocol"] == "deployment" and r["ways"] == 10 and r["shots"] == 5 and r["episodes"] == 10 for r in rows)
    for r in rows:
        if r["method"] in TUNING:
            name = TUNING[r["method"]][0]
            assert list(r["hyperparameters"]) == [name] and r["validation_episodes"] == 5 and 0 <= r["validation_accuracy"] <= 1
    assert main(["fewshot", "--ways", "2", "--shots", "1", "--episodes", "5", "--validation-episodes", "5"]) == 0  # fewshot-best by default
    out = capsys.readouterr().out
    assert "deployment protocol: split encoder 599, validation 599, test 599" in out and "fewshot-best" in out and "C=" in out and "k=" in out
    assert main(["fewshot", "--ways", "2", "--shots", "1", "--episodes", "5", "--validation-episodes", "5", "--protocol", "transductive"]) == 0
    assert "transductive protocol" in capsys.readouterr().out


GRID = REPO / "experiments" / "real_data" / "grid.json"


def _grid_cell(dataset: str, ways: int, shots: int) -> dict[str, dict]:
    cell = next(c for c in json.loads(GRID.read_text())["cells"] if (c["dataset"], c["ways"], c["shots"]) == (dataset, ways, shots))
    return {row["method"]: row for row in cell["rows"]}


def test_the_readme_s_real_data_figures_are_the_grid_s():
    """Every figure of the README's real-data row is the committed grid's (experiments/real_data/grid.json)."""
    readme = (REPO / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| real digits after deployment"))
    five = _grid_cell("digits", 5, 5)
    twenty = _grid_cell("digits", 10, 20)
    one = _grid_cell("digits", 10, 1)
    for figure in (five["fewshot-best"], five["logreg"], five["1nn"], twenty["fewshot-best"], twenty["1nn"], one["fewshot-best"], one["1nn"]):
        assert f"{figure['accuracy']:.3f}" in row, (figure["method"], figure["ways"], figure["shots"])


@pytest.mark.slow
def test_the_readme_s_five_way_five_shot_comparison_is_re_measured_within_its_interval():
    """The README's headline cell, measured again as the grid measured it: every method within its
    recorded 95% interval (the same episodes and tuning; another CPU may round a fit differently)."""
    recorded = _grid_cell("digits", 5, 5)
    grid = json.loads(GRID.read_text())
    rows, _ = measure_fewshot(
        {"fewshot-best": AppendableMemory.from_pretrained("fewshot-best")}, 5, 5, episodes=grid["episodes"], queries=grid["queries"],
        seed=grid["test_seed"], validation_episodes=grid["validation_episodes"],
    )
    for row in rows:
        low, high = recorded[row.method]["ci"]
        assert low <= row.accuracy <= high, (row.method, row.accuracy, (low, high))
