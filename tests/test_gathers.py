"""gathers.take: the parallel gather gives numpy's fancy indexing, for every column type clustering gathers."""
import numpy as np
import pytest

from hashtrail.pipeline.index import gathers


@pytest.mark.parametrize("dtype", [np.int64, np.uint64, np.int16, np.float64, np.bool_])
def test_take_is_numpys_indexing(dtype):
    rng = np.random.default_rng(1)
    n = gathers.SMALL * 3
    column = rng.integers(0, 1000, n).astype(dtype)
    rows = rng.integers(0, n, gathers.SMALL * 2)
    out = gathers.take(column, rows)
    assert out.dtype == column.dtype and np.array_equal(out, column[rows])
    wide = rng.integers(0, 2**63, (n, 4)).astype(np.uint64)
    assert np.array_equal(gathers.take(wide, rows), wide[rows])


def test_take_refuses_rows_outside_the_column():
    column = np.arange(gathers.SMALL * 2)
    rows = np.arange(gathers.SMALL * 2)
    rows[5] = len(column)
    with pytest.raises(IndexError):
        gathers.take(column, rows)
    rows[5] = -1
    with pytest.raises(IndexError):
        gathers.take(column, rows)
