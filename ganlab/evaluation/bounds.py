"""How many samples an evaluation may ask for, and its progress on long ones.

A metric's sample count comes from input (``--num-samples``, a metric's
``num_samples`` param): it is bounded before anything is generated, and a
long evaluation says how far it got instead of running silent.
"""

from __future__ import annotations

from collections.abc import Callable

from ganlab.errors import ConfigError

#: Most images (generated, or real from one split) one metric may score: 20 times
#: the 50,000 of the usual FID protocol. Feature rows of KID or precision/recall
#: at this count already take gigabytes.
MAX_SAMPLES = 1_000_000
#: Progress is told for counts from this many images, every tenth of the way.
PROGRESS_FROM = 20_000


def check_sample_count(count: int, what: str = "num_samples") -> int:
    """``count``, refused when it exceeds :data:`MAX_SAMPLES`.

    Raises:
        ConfigError: More samples than :data:`MAX_SAMPLES`.

    """
    if count > MAX_SAMPLES:
        raise ConfigError(f"{what} is {count:,}, more than the {MAX_SAMPLES:,} images ganlab "
                          "scores for one metric (the usual FID protocol uses 50,000). Ask for "
                          f"{MAX_SAMPLES:,} or fewer, e.g. --num-samples 50000.")
    return count


class Progress:
    """Tells ``echo`` every tenth of a long count (nothing for short ones).

    Args:
        echo: Where progress lines go.
        what: What is counted, e.g. ``generated images``.
        total: The count to reach.

    """

    def __init__(self, echo: Callable[[str], None], what: str, total: int):
        self.echo, self.what, self.total = echo, what, total
        self.done = 0
        self.next_tenth = 1

    def add(self, count: int) -> None:
        """``count`` more done; tell each tenth passed."""
        self.done += count
        if self.total < PROGRESS_FROM:
            return
        while self.next_tenth <= 10 and self.done * 10 >= self.next_tenth * self.total:
            self.echo(f"  {self.what}: {min(self.done, self.total):,} of {self.total:,} "
                      f"({self.next_tenth * 10} %)")
            self.next_tenth += 1
