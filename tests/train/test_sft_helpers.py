"""Helpers of the SFT recipe shared with the lookup probes in experiments/."""

from __future__ import annotations

import math

import torch

from leanthink.train.sft import first_label_accuracy, lr_schedule


def test_lr_schedule_warms_up_linearly_then_decays_to_a_tenth():
    assert lr_schedule(0, 100, 1.0, 10) == 0.1
    assert lr_schedule(9, 100, 1.0, 10) == 1.0
    assert lr_schedule(10, 100, 1.0, 10) == 1.0
    assert math.isclose(lr_schedule(55, 100, 1.0, 10), 0.55)      # half-way: midpoint of 1 and 0.1
    assert math.isclose(lr_schedule(100, 100, 1.0, 10), 0.1)
    assert lr_schedule(10**6, 10**12, 2.0, 10) > 1.99             # an endless schedule stays at peak


class _Fixed(torch.nn.Module):
    """Predicts token `row[i]` at position i of each row, whatever the input."""

    def __init__(self, predictions: list[list[int]], vocab: int = 8):
        super().__init__()
        self.logits = torch.nn.functional.one_hot(torch.tensor(predictions), vocab).float()

    def forward(self, input_ids, attention_mask):
        return type("Out", (), {"logits": self.logits})()


def test_first_label_accuracy_scores_only_the_first_supervised_token():
    labels = torch.tensor([[-100, -100, 5, 6], [-100, 3, 4, 4], [-100, -100, -100, 2]])
    batch = {"input_ids": torch.zeros_like(labels), "attention_mask": torch.ones_like(labels), "labels": labels}
    # the prediction for position p is read at p-1: row 0 right (5 at 1), row 1 wrong (7 at 0, not 3),
    # row 2 right (2 at 2); later positions are ignored, even when wrong
    model = _Fixed([[0, 5, 0, 0], [7, 4, 4, 4], [0, 0, 2, 0]])
    assert math.isclose(first_label_accuracy(model, batch), 2 / 3, rel_tol=1e-6)
