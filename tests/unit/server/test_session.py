from continuum.server.session import SessionTable, TokenBucket


def test_token_bucket_allows_burst_then_rate():
    bucket = TokenBucket(rate_per_s=10, burst=3, stamp=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.05) is False  # half a token
    assert bucket.take(0.1) is True
    assert bucket.take(100.0) and bucket.tokens == 2  # refill caps at burst


def test_session_table_bounds_and_expiry():
    table = SessionTable(max_sessions=2, idle_timeout_s=10, rate_per_s=1, burst=1)
    a = table.get_or_create(b"a", now=0.0)
    assert table.get_or_create(b"a", now=1.0) is a
    assert table.get_or_create(b"b", now=2.0) is not None
    assert table.get_or_create(b"c", now=3.0) is None  # full, nobody idle
    c = table.get_or_create(b"c", now=11.5)  # "a" idle since 1.0 is forgotten
    assert c is not None and len(table) == 2
    assert table.get_or_create(b"a", now=11.5) is None
