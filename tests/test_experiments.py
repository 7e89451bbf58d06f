"""The science pages' lab modules: the identity argument measured exactly, shortcut shapes and counts, tagged logs,
and every verdict computed from per-seed records (constructed records, including "no clear difference")."""

import pandas as pd
import pytest
import torch

from lab import degradation as D
from lab import identity as I
from lab import nets as N
from lab import shortcuts as S
from resnet_core import ExperimentConfig, train
from resnet_core.results import ExperimentLog, RunLog, tag

SMALL = ExperimentConfig(depth=8, width=4, steps=6, batch_size=32, measure_every=3, eval_every=3, device="cpu")


@pytest.mark.parametrize("norm", ["batch", "none"])
@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_alpha_zero_makes_identity_blocks_exactly_the_identity_and_the_plain_output_constant(norm, shortcut):
    config = SMALL.replace(depth=14, norm=norm, shortcut=shortcut)
    check, spread = N.identity_check(N.alpha_models(config, 0.0), N.first_batch(config))
    residual = check[check["run"] == "residual"]
    identity = residual[residual["identity_block"]]
    assert len(identity) == 4  # 2 blocks per stage, the first of stages 2 and 3 change shape
    assert (identity["max_diff_input"] == 0.0).all()  # exactly, not approximately: g(0 + a) = a for a >= 0
    assert residual[~residual["identity_block"]]["max_diff_input"].isna().all()  # shapes differ: no a[l+2] - a[l]
    transition_diff = residual[~residual["identity_block"]]["max_diff_shortcut"]
    if shortcut == "A":
        assert (transition_diff == 0.0).all()  # zero padding of a ReLU output stays >= 0, so g(shortcut) = shortcut
    assert spread["plain"] == 0.0  # every plain block outputs g(0) = 0: the logits are the classifier's bias
    assert spread["residual"] > 0.01
    assert (check[check["run"] == "plain"]["output_std"] == 0.0).all()


def test_alpha_one_blocks_are_not_the_identity():
    check, spread = N.identity_check(N.alpha_models(SMALL, 1.0), N.first_batch(SMALL))
    assert check.loc[check["identity_block"], "max_diff_input"].min() > 0.1
    assert spread["plain"] > 0.01


def test_scale_branches_scales_exactly_the_last_layer_of_each_branch():
    before, after = N.alpha_models(SMALL, 1.0)["residual"], N.alpha_models(SMALL, 0.25)["residual"]
    for (name, p), (_, q) in zip(before.named_parameters(), after.named_parameters(), strict=True):
        expected = 0.25 * p if ".norm2." in name else p
        assert torch.equal(q, expected), name


def test_transition_table_measures_shapes_and_names_each_options_shortcut():
    table = N.transition_table(SMALL.replace(depth=20))
    assert table["block"].tolist() == list(range(1, 10))
    assert table.loc[table["transition"], "block"].tolist() == [4, 7]
    row = table.set_index("block").loc[4]
    assert (row["in"], row["out"]) == ("4x8x8", "8x4x4")
    assert "zero-pad" in row["A"] and "W_s 4->8, stride 2" in row["B"] and "W_s" in row["C"]
    inside = table.set_index("block").loc[2]
    assert inside["A"].startswith("identity") and inside["B"].startswith("identity") and "W_s 4->4" in inside["C"]


def test_parameter_counts_match_the_paper_at_cifar_scale():
    counts = N.parameter_counts(ExperimentConfig(depth=20, width=16), (3, 32, 32), 10)
    assert counts["A"] == counts["plain"] == 269_722  # option A adds no parameters
    assert counts["B"] - counts["A"] == 2_752  # (16*32 + 2*32) + (32*64 + 2*64): two projections with BN
    conv_and_bn = sum(c * c + 2 * c for c in (16,) * 3 + (32,) * 2 + (64,) * 2)  # the 7 same-shape shortcuts
    assert counts["C"] - counts["B"] == conv_and_bn


def pairs(config, **grid):
    """An ExperimentLog of train() pairs over a grid of config fields, each run tagged by its fields."""
    import itertools

    log = ExperimentLog()
    keys = list(grid)
    for values in itertools.product(*grid.values()):
        fields = dict(zip(keys, values, strict=True))
        log.extend(tag(train(config.replace(**fields)), **fields))
    return log


def test_experiment_log_tables_are_the_run_logs_tables_with_tag_columns():
    log = pairs(SMALL, depth=[8, 14], seed=[0, 1])
    engine = RunLog(SMALL.replace(depth=14, seed=1)).extend(train(SMALL.replace(depth=14, seed=1)))
    layers = log.layer_frame()
    ours = layers[(layers["depth"] == 14) & (layers["seed"] == 1)].drop(columns=["run", "depth", "seed"])
    pd.testing.assert_frame_equal(ours.reset_index(drop=True), engine.layer_frame())
    final = log.final_frame()
    assert sorted(final["run"]) == sorted(f"{v}-{d}-{s}" for v in ("plain", "residual") for d in (8, 14) for s in (0, 1))
    ratios = D.init_ratios(log)
    plain = ratios[(ratios["depth"] == 14) & (ratios["seed"] == 1) & (ratios["variant"] == "plain")]["ratio"].item()
    assert plain == pytest.approx(engine.ratio("plain"), rel=1e-6)


def test_a_run_still_training_never_enters_the_final_frame():
    records = list(tag(train(SMALL), depth=8, seed=0))
    log = ExperimentLog().extend(r for r in records if r["kind"] != "done")
    assert log.final_frame().empty  # evaluations exist, but the run has not finished
    assert not log.eval_frame().empty


def finals(rows):
    """A final frame from (variant, depth, seed, train_error) rows."""
    return pd.DataFrame(rows, columns=["variant", "depth", "seed", "train_error"])


def test_degradation_verdict_needs_every_seed_to_agree():
    clear = finals(
        [
            (v, d, s, e)
            for s in (0, 1, 2)
            for v, d, e in (("plain", 20, 0.1), ("plain", 56, 0.8), ("residual", 20, 0.01), ("residual", 56, 0.02))
        ]
    )
    verdict = D.degradation_verdict(clear)
    assert verdict.plain_degrades and verdict.residual_fixes and verdict.seeds == 3
    text = " ".join(D.verdict_lines(verdict))
    assert "on every seed (3 of 3)" in text and "That is degradation" in text
    # one seed of three shows no plain gap: the page must not call it degradation
    mixed = clear.copy()
    mixed.loc[(mixed["seed"] == 2) & (mixed["variant"] == "plain") & (mixed["depth"] == 56), "train_error"] = 0.1
    verdict = D.degradation_verdict(mixed)
    assert not verdict.plain_degrades
    text = " ".join(D.verdict_lines(verdict))
    assert "on 2 of 3 seeds only: within seed noise" in text and "That is degradation" not in text
    # no difference at all
    flat = clear.assign(train_error=0.1)
    text = " ".join(D.verdict_lines(D.degradation_verdict(flat)))
    assert "no degradation at these settings" in text
    assert "worse on no seed either" in text and "no better than plain" not in text
    assert D.degradation_verdict(clear[clear["depth"] == 20]) is None


def test_residual_sentence_says_within_only_when_both_depths_are_close():
    """The shortcut's verdict bounds how much worse the deeper net is; a shallow net far behind is not "within"."""
    rows = [("plain", 20, 0.1), ("plain", 56, 0.8), ("residual", 20, 0.30), ("residual", 56, 0.05)]
    text = " ".join(D.verdict_lines(D.degradation_verdict(finals([(v, d, s, e) for s in (0, 1, 2) for v, d, e in rows]))))
    assert "within 2% of each other" not in text
    assert "the deeper one is at most 2% worse on every seed (3 of 3)" in text


def test_shortcut_lines_state_an_ordering_only_when_every_seed_agrees():
    rows = []
    for seed, (a, b, c) in enumerate([(0.10, 0.12, 0.11), (0.12, 0.10, 0.13), (0.11, 0.11, 0.10)]):
        for option, error in zip("ABC", (a, b, c), strict=True):
            rows += [("plain", option, seed, 0.5), ("residual", option, seed, error)]
    final = pd.DataFrame(rows, columns=["variant", "option", "seed", "train_error"])
    text = " ".join(S.option_lines(final))
    assert "no ordering holds on every seed" in text and "on every seed (3 of 3)" in text
    ordered = final.assign(
        train_error=[
            0.5 if v == "plain" else {"A": 0.3, "B": 0.1, "C": 0.2}[o]
            for v, o in zip(final["variant"], final["option"], strict=True)
        ]
    )
    text = " ".join(S.option_lines(ordered))
    assert "B beats A on every seed" in text and "C beats A on every seed" in text and "B beats C on every seed" in text


def test_shortcut_pairs_give_the_four_nets_and_the_transition_summary():
    log = pairs(SMALL, shortcut=["A", "B", "C"])
    layers = log.layer_frame().rename(columns={"shortcut": "option"})
    layers = layers.assign(option=layers["option"], seed=0)
    nets = S.options_frame(layers)
    assert set(nets["net"]) == {"plain", "A", "B", "C"}
    table = N.transition_table(SMALL)
    marked = S.transition_layers(nets, table)
    names = set(marked.loc[marked["in_transition"], "name"])
    assert {"blocks.1.layer1.weight", "blocks.2.layer2.weight", "blocks.2.shortcut.projection.weight"} <= names
    assert not any(n.startswith("blocks.0.") for n in names)
    summary = S.transition_gradient_summary(marked).set_index("net")
    assert set(summary.index) == {"plain", "A", "B", "C"} and (summary["ratio"] > 0).all()


def test_the_plain_net_is_the_same_in_every_option_pair():
    a = [r["loss"] for r in train(SMALL.replace(shortcut="A")) if r["kind"] == "step" and r["variant"] == "plain"]
    c = [r["loss"] for r in train(SMALL.replace(shortcut="C")) if r["kind"] == "step" and r["variant"] == "plain"]
    assert a == c


def test_alpha_records_train_the_scaled_pair_with_the_engines_loop():
    """Step 0 of alpha_records is the scaled pair on the first minibatch: the plain stack a constant, the loss its loss."""
    from resnet_core.data import load_dataset
    from resnet_core.training import minibatch_indices

    records = list(N.alpha_records(SMALL, 0.0))
    first = {r["variant"]: r for r in records if r["kind"] == "step" and r["step"] == 0}
    x_train, y_train, *_ = load_dataset(SMALL)
    index = next(minibatch_indices(SMALL, len(x_train)))
    nets = N.alpha_models(SMALL, 0.0)
    with torch.no_grad():
        logits = {v: net.train()(x_train[index]) for v, net in nets.items()}
    assert logits["plain"].std(0).max().item() == 0.0  # every plain block outputs g(0) = 0
    for v in ("plain", "residual"):
        loss = torch.nn.functional.cross_entropy(logits[v], y_train[index]).item()
        assert first[v]["loss"] == pytest.approx(loss, rel=1e-5)
    assert {r["kind"] for r in records} >= {"meta", "step", "eval", "done"}


def test_l2_sweep_sentences_follow_the_measurement():
    config = SMALL.replace(steps=30, measure_every=30, eval_every=30)
    log = pairs(config, l2=[0.0, 0.1], seed=[0, 1])
    blocks = log.last_measured(log.block_frame())
    response = blocks[(blocks["metric"] == "act_std") & (blocks["variant"] == "plain")].groupby("l2")["value"].mean()
    assert response[0.1] < 0.9 * response[0.0]  # BN's scale decays: the plain stack's signal shrinks with it
    layers = log.last_measured(log.layer_frame())
    norms = layers[layers["metric"] == "weight_norm"].groupby(["variant", "l2"])["value"].mean()
    assert norms["plain", 0.1] < norms["plain", 0.0] and norms["residual", 0.1] < norms["residual", 0.0]
    lines = I.sweep_lines(log, config.norm)
    ratio = blocks[(blocks["metric"] == "branch_ratio") & (blocks["variant"] == "residual") & (blocks["l2"] == 0.1)]
    per_seed = ratio.groupby("seed")["value"].median()  # an independent reading of what the sentence quotes
    assert any(f"→ {per_seed.mean():.3g} [{per_seed.min():.3g}–{per_seed.max():.3g}] at L2 0.1" in line for line in lines)
    stds = blocks[blocks["metric"] == "act_std"].groupby(["l2", "variant", "seed"])["value"].mean()
    residual, plain = stds[0.0, "residual"], stds[0.0, "plain"]
    separate = residual.max() < plain.min() or residual.min() > plain.max()
    (response,) = [line for line in lines if "Branch response std" in line]
    assert ("within seed noise (the seed ranges overlap) at L2 0" in response) != separate


@pytest.mark.parametrize("seed", [0, 1])
def test_degradation_shows_at_a_tiny_budget(seed):
    """The page's phenomenon at a config small enough for a test, at the app's one torch thread."""
    torch.set_num_threads(1)  # restored by conftest; the thread count changes the (chaotic) trajectories
    config = ExperimentConfig(
        depth=8, width=4, lr=0.05, steps=60, batch_size=32, measure_every=1000, eval_every=1000, device="cpu", seed=seed
    )
    verdict = D.degradation_verdict(pairs(config, depth=[8, 32]).final_frame().assign(seed=seed))
    assert verdict.gaps["plain"].mean > 0.3  # plain-32 trains far worse than plain-8 on its own training data
    assert verdict.plain_degrades
