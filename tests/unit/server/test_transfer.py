"""Credit accounting and chunk order of one transfer, driven without sockets."""

import asyncio
import hashlib

import pytest

from continuum.errors import ProtocolError
from continuum.server.transfer import Transfer, chunk_count
from continuum.world import AssetStore


@pytest.mark.parametrize(("size", "chunks"), [(0, 1), (1, 1), (1000, 1), (1001, 2), (10_500, 11)])
def test_chunk_count(size, chunks):
    assert chunk_count(size, 1000) == chunks


def test_outstanding_credit_is_bounded():
    transfer = Transfer(1, None, 1000, range(20), credit=6, max_credit=8)
    with pytest.raises(ProtocolError, match="6 chunks granted and unsent; 3 more") as info:
        transfer.grant(3)
    assert info.value.code == "bad_request" and transfer.credit == 6
    assert transfer.grant(2) == 8


def test_run_sends_exactly_the_granted_chunks_in_order():
    data = bytes(range(256)) * 10  # 2,560 octets: chunks of 1,000, 1,000 and 560

    async def main(store: AssetStore) -> list[dict]:
        asset = store.put(data, kind="blob", meta={})
        transfer = Transfer(1, asset, 1000, [0, 2], credit=1, max_credit=8)
        sent = []

        async def push(message):
            sent.append({**message.header, "octets": message.blobs[0].tobytes()})

        task = asyncio.create_task(transfer.run(store, push))
        await asyncio.sleep(0.1)
        assert len(sent) == 1 and transfer.credit == 0 and not task.done()
        transfer.grant(1)
        await asyncio.wait_for(task, 5)
        return sent

    with AssetStore() as store:
        sent = asyncio.run(main(store))
    assert [(c["index"], c["offset"], c["last"]) for c in sent] == [(0, 0, False), (2, 2000, True)]
    assert sent[1]["octets"] == data[2000:]
    assert all(c["sha256"] == hashlib.sha256(c["octets"]).hexdigest() for c in sent)
