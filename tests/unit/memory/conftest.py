import re
import zlib

import numpy as np
import pytest

from continuum.memory import EMBEDDING_DIM


def embed_words(texts):
    """A deterministic stand-in for the text embedder: a hashed bag of words, unit length, so
    that texts sharing words are similar  # [N, EMBEDDING_DIM]"""
    out = np.zeros((len(texts), EMBEDDING_DIM), np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"[a-z0-9]+", text.lower()) or ["<empty>"]:
            h = zlib.crc32(word.encode())
            out[i, h % EMBEDDING_DIM] += 1.0 if (h >> 16) & 1 else -1.0
        out[i] /= np.linalg.norm(out[i]) or 1.0
    return out


@pytest.fixture
def embed():
    return embed_words
