import json

import numpy as np
import pytest

from continuum.errors import IdentityError
from continuum.memory import EMBEDDING_DIM, MAX_TEXT, MemoryRecord, new_record_id
from continuum.memory.records import decode_embedding, encode_embedding


def _record(**fields):
    vector = np.random.default_rng(0).normal(size=EMBEDDING_DIM).astype(np.float32)
    base = {
        "id": "m-1",
        "who": "anna",
        "what": "said",
        "text": "the door is locked",
        "where": [1.0, 0.0, -2.5],
        "when": 1_700_000_000.25,
        "tick": 7,
        "importance": 0.8,
        "summary": False,
        "embedding": vector / np.linalg.norm(vector),
    }
    return MemoryRecord(**(base | fields))


def test_json_round_trip_keeps_every_field_and_the_embedding_exactly():
    record = _record()
    doc = json.loads(json.dumps(record.to_json()))
    assert len(doc["embedding"]) == EMBEDDING_DIM * 4 * 4 // 3  # base64 of float32 [384]
    back = MemoryRecord.from_json(doc)
    assert back == record and back.where == (1.0, 0.0, -2.5)
    np.testing.assert_array_equal(back.embedding, record.embedding)
    assert not back.embedding.flags.writeable
    wire = record.to_json(embedding=False)  # what engines get
    assert "embedding" not in wire and set(wire) == {
        "id", "who", "what", "where", "when", "tick", "text", "importance", "summary",
    }  # fmt: skip
    assert MemoryRecord.from_json(wire).embedding is None
    assert MemoryRecord.from_json(_record(where=None).to_json()).where is None


def test_ids_are_fresh():
    ids = {new_record_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(i.startswith("m-") and len(i) == 14 for i in ids)


def test_embedding_codec():
    vector = np.linspace(-1, 1, EMBEDDING_DIM, dtype=np.float32)
    np.testing.assert_array_equal(decode_embedding(encode_embedding(vector)), vector)
    for bad, message in (
        (3, "base64 string"),
        ("***", "not valid base64"),
        (encode_embedding(vector[:10]), "384 float32 values"),
        (encode_embedding(np.full(EMBEDDING_DIM, np.nan, np.float32)), "finite"),
    ):
        with pytest.raises(IdentityError, match=message):
            decode_embedding(bad)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"id": ""}, "id must be a string of 1..64"),
        ({"who": 3}, "who must be a string.*got int"),
        ({"what": "x" * 65}, "what must be a string of 1..64 characters, got 65"),
        ({"text": ""}, "text must be a string of 1..4000"),
        ({"text": "x" * (MAX_TEXT + 1)}, "text must be a string of 1..4000 characters, got 4001"),
        ({"where": [1.0, 2.0]}, r"where must be \[x, y, z\]"),
        ({"where": [1.0, float("inf"), 0.0]}, "where must be a finite number"),
        ({"when": "now"}, "when must be a finite number"),
        ({"tick": -1}, "tick must be an integer >= 0"),
        ({"tick": True}, "tick must be an integer >= 0"),
        ({"importance": 1.5}, r"importance must be in 0..1"),
        ({"importance": float("nan")}, "importance must be a finite number"),
        ({"summary": 1}, "summary must be true or false"),
        ({"embedding": np.zeros(3, np.float32)}, r"embedding must be float \[384\]"),
    ],
)
def test_bad_fields_are_named(fields, message):
    with pytest.raises(IdentityError, match=message):
        _record(**fields)


def test_from_json_refuses_what_is_not_a_record():
    doc = _record().to_json()
    with pytest.raises(IdentityError, match="JSON object"):
        MemoryRecord.from_json([doc])
    with pytest.raises(IdentityError, match=r"missing fields \['text'\]"):
        MemoryRecord.from_json({k: v for k, v in doc.items() if k != "text"})
    with pytest.raises(IdentityError, match=r"unexpected fields \['said'\]"):
        MemoryRecord.from_json(doc | {"said": "hi"})
    with pytest.raises(IdentityError, match=r"'m-1'.*not valid base64"):
        MemoryRecord.from_json(doc | {"embedding": "@@"})
    with pytest.raises(IdentityError, match="memory record 'm-1': importance"):
        MemoryRecord.from_json(doc | {"importance": -0.1})
