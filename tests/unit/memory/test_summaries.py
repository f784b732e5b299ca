import numpy as np
import pytest

from continuum.errors import IdentityError
from continuum.memory import MAX_TEXT, Memory, summary_record
from continuum.world.events import MemoryFolded

NOW = 1_700_000_000.0
DAY = 86400.0


def test_a_summary_record_folds_a_group(embed):
    memory = Memory(embed_texts=embed)
    group = [
        memory.add("anna", "said", "minor remark", where=[0, 0, 0], importance=0.2, when=NOW),
        memory.add("anna", "touched", "the key matters", importance=0.9, when=NOW - 7200, tick=9),
        memory.add(
            "anna", "said", "a middle thing", where=[2, 4, 0], importance=0.5, when=NOW - 60
        ),
    ]
    summary = summary_record(group, group_by="who", record_id="m-s")
    assert summary.id == "m-s" and summary.summary
    assert summary.who == "anna" and summary.what == "summary"  # the whats differ
    assert summary.text == (
        "3 records from 2023-11-14 20:13 to 2023-11-14 22:13 UTC: "
        "the key matters | a middle thing | minor remark"
    )
    assert summary.where == (1.0, 2.0, 0.0)  # the mean of those with a place
    assert (summary.when, summary.tick, summary.importance) == (NOW, 9, 0.9)
    mean = np.mean([r.embedding for r in group], axis=0)
    np.testing.assert_allclose(summary.embedding, mean / np.linalg.norm(mean), atol=1e-6)
    by_what = summary_record(group[::2], group_by="what")
    assert (by_what.who, by_what.what, by_what.summary) == ("anna", "said", True)
    assert summary_record(group[1:2] * 2, group_by="who").where is None


def test_a_long_summary_is_trimmed(embed):
    memory = Memory(embed_texts=embed)
    group = [memory.add("a", "said", f"{i} " + "x" * 3000, when=NOW - i) for i in range(3)]
    text = summary_record(group).text
    assert len(text) == MAX_TEXT and text.endswith("\u2026")


def test_bad_groups_are_refused(embed):
    memory = Memory(embed_texts=embed)
    record = memory.add("a", "said", "alone")
    with pytest.raises(IdentityError, match="2 records or more, got 1"):
        summary_record([record])
    with pytest.raises(IdentityError, match="group_by must be one of"):
        summary_record([record, record], group_by="where")


def test_summarize_folds_old_records_and_they_are_found_again(embed):
    logged = []
    memory = Memory(embed_texts=embed, log=lambda events: logged.extend(events) or len(logged))
    old_anna = [
        memory.add("anna", "said", "the red door is locked", when=NOW - 3 * DAY, importance=0.9),
        memory.add("anna", "looked_at", "a painting of the sea", when=NOW - 2 * DAY),
    ]
    old_ben = memory.add("ben", "said", "the gate is cold", when=NOW - 3 * DAY)  # alone: stays
    new_anna = memory.add("anna", "said", "good morning", when=NOW - 60)  # too new: stays
    logged.clear()
    folded, summaries = memory.summarize(DAY, now=NOW)
    assert folded == [r.id for r in old_anna] and len(summaries) == 1
    summary = summaries[0]
    assert logged == [MemoryFolded(ids=folded, summary=summary.to_json())]
    assert [r.id for r in memory.records()] == [old_ben.id, new_anna.id, summary.id]
    for record_id in folded:
        assert record_id not in memory
    found = memory.query("red door locked", now=NOW)
    assert found[0].record == summary and found[0].record.summary
    assert summary.when == NOW - 2 * DAY and summary.importance == 0.9
    # summaries are never folded again; grouping by what folds across people
    old_cara = memory.add("cara", "said", "the sea is calm", when=NOW - 4 * DAY)
    assert memory.summarize(DAY, now=NOW) == ([], [])
    folded, summaries = memory.summarize(DAY, group_by="what", now=NOW)
    assert folded == [old_ben.id, old_cara.id]
    assert (summaries[0].who, summaries[0].what) == ("several", "said")
    assert len(memory) == 3


def test_summarize_checks_its_arguments_and_a_failed_log_changes_nothing(embed):
    def log(events):
        raise OSError("disk gone")

    memory = Memory(embed_texts=embed)
    for args, message in (
        ((-1.0,), "older_than_s must be a finite number >= 0"),
        ((float("inf"),), "older_than_s"),
        ((1.0, "where"), "group_by must be one of"),
    ):
        with pytest.raises(IdentityError, match=message):
            memory.summarize(args[0], group_by=args[1] if len(args) > 1 else "who")
    records = [memory.add("a", "said", f"old {i}", when=NOW - DAY - i) for i in range(3)]
    memory._log = log
    with pytest.raises(OSError, match="disk gone"):
        memory.summarize(DAY, now=NOW)
    assert memory.records() == records
    assert [s.record.id for s in memory.query(k=10, now=NOW)] == [r.id for r in records]
