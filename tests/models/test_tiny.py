"""Sizes of the built-in reasoners: named sizes and LAYERSxWIDTHxHEADS shapes."""

from __future__ import annotations

import pytest

from leanthink.errors import LeanthinkError
from leanthink.models.tiny import parse_size


@pytest.mark.parametrize("size, message", [("4x256", "LAYERSxWIDTHxHEADS"), ("2x30x4", "heads of an even size"),
                                           ("0x64x2", "LAYERSxWIDTHxHEADS"), ("huge", "unknown model size")])
def test_model_shapes_are_checked(size, message):
    assert parse_size("3x192x6").layers == 3 and parse_size("3x192x6").intermediate == 512
    with pytest.raises(LeanthinkError, match=message):
        parse_size(size)
