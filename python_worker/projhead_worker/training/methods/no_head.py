"""no_head: InfoNCE directly on the backbone features h; the head is not used at all (its
parameters stay at their initial values and are in no optimizer)."""
from __future__ import annotations

from .base import SingleLossMethod


class NoHead(SingleLossMethod):
    name = "no_head"
    uses_head = False

    def features(self, h):
        return h
