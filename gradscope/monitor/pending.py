"""Rows of statistics kept on the device until one copy takes them to the host (`Monitor(sync_every=N)`).

On an accelerator each device-to-host copy waits for the queued work; N steps' rows copied at once cost one wait
instead of N. Rows differ in width (weight norms are taken on some steps only), so they are concatenated into
one flat tensor, with a row of `clipped` flags at the end (whether clipping bit is known on the device only),
and split again on the host by each row's `RowLayout`.
"""

from __future__ import annotations

import numpy as np
import torch

from gradscope.monitor.row_layout import RowHeader


class PendingRows:
    """Device-side rows not yet copied, with their headers and `clipped` flags."""

    def __init__(self) -> None:
        self._rows: list[torch.Tensor] = []
        self._headers: list[RowHeader] = []
        self._clipped: dict[int, torch.Tensor] = {}  # row index -> device-side `clipped` flag
        self.peaks: torch.Tensor | None = None  # the last row's per-parameter max |grad|, for clip_value_

    def _clear(self) -> None:
        self._rows, self._headers, self._clipped, self.peaks = [], [], {}, None

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, row: torch.Tensor, header: RowHeader, peaks: torch.Tensor | None = None) -> None:
        self._rows.append(row)
        self._headers.append(header)
        if peaks is not None:
            self.peaks = peaks

    def flag_clipped(self, flag: torch.Tensor) -> None:
        """The last row's `clipped` flag, a device-side boolean (read at the copy)."""
        self._clipped[len(self._rows) - 1] = flag

    def take(self, false: torch.Tensor) -> list[tuple[np.ndarray, RowHeader, bool]]:
        """Every row on the host in ONE copy, as (float64 row, header, clipped); the buffer is empty after.

        `false` is a device scalar standing for rows whose `clipped` flag was never set.
        """
        rows, headers, clipped = self._rows, self._headers, self._clipped
        self._clear()
        if not rows:
            return []
        flags = torch.stack([clipped.get(i, false).reshape(()).to(torch.float32) for i in range(len(rows))])
        flat = torch.cat([*rows, flags]).cpu().numpy().astype(np.float64)
        landed, start = [], 0
        bits = flat[-len(rows):]
        for j, (row, header) in enumerate(zip(rows, headers, strict=True)):
            landed.append((flat[start:start + row.numel()], header, bool(bits[j])))
            start += row.numel()
        return landed
