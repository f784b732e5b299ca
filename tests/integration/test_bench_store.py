from continuum.bench.store import bench_store


def test_bench_store_reports_its_figures():
    result = bench_store(append_events=2000, reopen_events=30_000, replay_ticks=100)
    assert result["events"] >= 30_000
    for key in ("append_events_per_s", "reopen_s_1m_events", "replay_ticks_per_s"):
        assert result[key] > 0, key
