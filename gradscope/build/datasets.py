"""Built-in data sources: a CSV file read with pandas into a TensorDataset.

Standardisation is off by default on purpose: badly scaled features are a common cause of exploding
gradients, and gradscope must see the data as the user's training sees it.
"""

from __future__ import annotations

import torch

from gradscope.config.load import Config
from gradscope.errors import ConfigError

CLASSIFICATION_LOSSES = ("CrossEntropyLoss", "NLLLoss", "MultiMarginLoss")


def csv_dataset(config: Config) -> torch.utils.data.TensorDataset:
    """Features are every numeric column but `target`; the target is float (N, 1), or int64 for classification."""
    import pandas as pd

    where = f"{config.source}: [data] path"
    path = config.data.path
    if path is None or not path.is_file():
        raise ConfigError(f"{where}: {path} does not exist (fix: paths are relative to the config's folder)")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: {path.name} is not a readable CSV: {str(exc).splitlines()[0]}") from None
    target = config.data.target
    if target not in frame.columns:
        from gradscope.errors import did_you_mean

        raise ConfigError(f"{config.source}: [data] target {target!r} is not a column of {path.name}"
                          f"{did_you_mean(str(target), map(str, frame.columns))} (fix: one of "
                          f"{', '.join(map(str, frame.columns[:10]))})")
    features = frame.drop(columns=[target])
    non_numeric = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        raise ConfigError(f"{where}: {path.name} has non-numeric columns {', '.join(non_numeric[:5])} "
                          "(fix: encode or drop them; use a data factory for anything else)")
    x = torch.tensor(features.to_numpy(dtype="float64"), dtype=torch.float32)
    if config.data.standardize:
        x = (x - x.mean(0)) / x.std(0).clamp_min(1e-12)
    if config.loss.name in CLASSIFICATION_LOSSES:
        y = torch.tensor(frame[target].to_numpy(), dtype=torch.int64)
    else:
        y = torch.tensor(frame[target].to_numpy(dtype="float64"), dtype=torch.float32).unsqueeze(1)
    return torch.utils.data.TensorDataset(x, y)
