"""Progress for the long steps (building, verifying N inputs, benchmarking, calibrating): a rich bar or spinner
on a terminal, and nothing otherwise, so logs and pipes get only the results."""
from __future__ import annotations

import contextlib
import sys


def _terminal() -> bool:
    return sys.stdout.isatty()


def track(items, total: int, what: str):
    """Iterate over items, drawing `what` done/total on a terminal."""
    if not _terminal():
        yield from items
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task(what, total=total)
        for item in items:
            yield item
            bar.advance(task)


@contextlib.contextmanager
def status(what: str):
    """A spinner with `what` on a terminal while the block runs."""
    if not _terminal():
        yield
        return
    from rich.console import Console

    with Console().status(what):
        yield
