"""Weights convert to the compute dtype bit for bit, whether an array is cast whole or in row blocks."""

import ml_dtypes
import numpy as np
import pytest

from castgate.weights import dtypes

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)


@pytest.mark.parametrize("rows", [3, dtypes._SPLIT_ELEMENTS // 1024 + 7])  # whole, and in row blocks
@pytest.mark.parametrize("source, target", [(np.float16, BFLOAT16), (np.float16, np.float32),
                                            (np.float32, BFLOAT16), (np.float32, np.float16)])
def test_convert_equals_numpys_cast(rows, source, target):
    values = (np.random.default_rng(rows).standard_normal((rows, 1024)) * 300).astype(source)
    values[0, :4] = [np.inf, -np.inf, np.nan, -0.0]
    expected = (values.astype(np.float32) if source == np.float16 else values).astype(target)
    converted = dtypes.convert(values, np.dtype(target))
    assert converted.dtype == np.dtype(target) and converted.shape == values.shape
    assert converted.tobytes() == expected.tobytes()


def test_an_array_already_in_the_dtype_is_not_copied():
    values = np.ones((4, 4), np.float32)
    assert dtypes.convert(values, np.dtype(np.float32)) is values
