import numpy as np
import pytest

from vr2.scoring.claims import Claim
from vr2.scoring.embedding import CachedEmbedder
from vr2.plugins.registry import make_embedder
from vr2.scoring.tar import TarScorer, TarSettings


@pytest.fixture(scope="module")
def scorer():
    return TarScorer(CachedEmbedder(make_embedder("minilm")))


REF = [Claim(2, 2, "A man wearing a grey apron enters the kitchen."),
       Claim(9, 15, "He chops onions on a cutting board."),
       Claim(25, 25, "He pours cooking oil into the pan.")]


def test_grounded_claims_match_and_precision_recall_f1(scorer):
    pred = [Claim(3, 3, "a man in a grey apron walks into the kitchen"),
            Claim(8, 14, "he chops two onions on a wooden board"),
            Claim(90, 90, "a dog barks outside")]
    result = scorer.score(pred, REF)
    assert [(m.pred, m.ref) for m in result.matches] == [(0, 0), (1, 1)]
    assert result.precision == pytest.approx(2 / 3)
    assert result.recall == pytest.approx(2 / 3)
    assert result.f1 == pytest.approx(2 / 3)


def test_right_words_wrong_time_do_not_match(scorer):
    result = scorer.score([Claim(60, 60, "He pours cooking oil into the pan.")], REF)
    assert result.matches == [] and result.precision == 0.0


def test_buffer_and_tau_are_respected(scorer):
    pred = [Claim(30, 30, "He pours cooking oil into the pan.")]
    assert scorer.score(pred, REF).precision == 0.0  # gap 5 s > 2 * 2 s
    wide = TarScorer(scorer.embedder, TarSettings(buffer_seconds=2.5))
    assert wide.score(pred, REF).precision == 1.0
    strict = TarScorer(scorer.embedder, TarSettings(tau=0.999))
    assert strict.score([Claim(25, 25, "oil goes in the pan")], REF).precision == 0.0


def test_empty_sides_score_zero(scorer):
    assert scorer.score([], REF).precision == 0.0
    assert scorer.score([Claim(1, 1, "x")], []).recall == 0.0


def test_batch_equals_one_by_one_and_embeds_once(scorer):
    calls = []

    class Spy:
        name = "spy"

        def encode(self, texts):
            calls.append(len(texts))
            return scorer.embedder.encode(texts)

    batch_scorer = TarScorer(Spy())
    preds = [[Claim(3, 3, "a man enters the kitchen")], [Claim(25, 25, "oil is poured into the pan")], []]
    batch = batch_scorer.score_batch([(p, REF) for p in preds])
    assert calls == [len(REF) + 2]  # one call, each distinct sentence once
    single = [scorer.score(p, REF) for p in preds]
    assert [r.precision for r in batch] == [r.precision for r in single]


def test_optimal_beats_greedy_on_a_contested_reference(scorer):
    ref = [Claim(10, 10, "A woman opens the red door."), Claim(12, 12, "A woman opens the door.")]
    pred = [Claim(10, 10, "a woman opens the red door"), Claim(11, 11, "the woman opens the red door slowly")]
    greedy = TarScorer(scorer.embedder, TarSettings(matching="greedy", tau=0.0)).score(pred, ref)
    optimal = TarScorer(scorer.embedder, TarSettings(tau=0.0)).score(pred, ref)
    assert len(optimal.matches) >= len(greedy.matches)
    sims = np.array([[m.similarity for m in optimal.matches]])
    assert (sims >= 0).all()


def test_claims_past_the_cap_are_counted_and_never_raise_tar(scorer, caplog):
    """10k x 10k claims once needed 4.5 GB; past the cap they are left out of the matching but
    still count as unmatched, so spamming time mentions cannot raise TAR."""
    import tracemalloc

    from vr2.scoring.tar import MAX_CLAIMS_PER_TRACE as cap

    pred = [Claim(t % 600, t % 600, "He pours oil into the pan.") for t in range(10_000)]
    ref = [Claim(t % 600, t % 600, "He pours cooking oil into the pan.") for t in range(10_000)]
    tracemalloc.start()
    with caplog.at_level("WARNING", logger="vr2.scoring.tar"):
        result = scorer.score(pred, ref)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100e6
    assert (len(result.pred_claims), result.pred_dropped) == (cap, 10_000 - cap)
    assert (len(result.ref_claims), result.ref_dropped) == (cap, 10_000 - cap)
    assert result.precision == len(result.matches) / 10_000 and result.recall == len(result.matches) / 10_000
    assert f"past the cap of {cap}" in caplog.text
    small = scorer.score(pred[:3], ref[:3])
    assert small.pred_dropped == small.ref_dropped == 0 and "past the cap" not in repr(small)
