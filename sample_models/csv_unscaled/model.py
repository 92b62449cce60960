"""Linear regression on a CSV of house prices with raw, unscaled features (square feet, lot size in the
thousands; bedrooms in single digits) and a learning rate tuned for standardised data.

Expected verdict: critical (the loss overflows within a few steps).
The cause is the input scale and the learning rate, not the gradient tails: `gradscope recommend` reports
clipping_helps = false and shows that standardised inputs or a lower learning rate fix it.
"""

from torch import nn


def build_model(features: int = 4) -> nn.Module:
    return nn.Linear(features, 1)
