"""A tqdm progress bar that implements :data:`kneeviewer.progress.ProgressCallback`."""

from __future__ import annotations

import sys

from tqdm import tqdm


class ProgressBar:
    """Show pipeline progress on stderr; use as a context manager."""

    def __init__(self, description: str = "kneeviewer", disable: bool | None = None) -> None:
        self._bar = tqdm(
            total=1000,
            desc=description,
            unit="",
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}",
            file=sys.stderr,
            disable=disable,
            leave=True,
        )

    def __call__(self, stage: str, fraction: float, message: str = "") -> None:
        self._bar.n = int(round(1000 * fraction))
        self._bar.set_postfix_str(f"{stage}: {message}" if message else stage, refresh=False)
        self._bar.refresh()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._bar.close()
