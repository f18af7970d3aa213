"""The residual statistics: decayed moments stay valid however long a series sleeps."""

from __future__ import annotations

from trailspike.models.factory import new_series_model
from trailspike.models.priors import Moments

# A distinct count of error messages on a sparse three-year trail (15-minute buckets, offsets
# from the first): ones and a two, with a year-long silence. Its negative residuals' moments
# decayed to a weight of ~1e-32 around a mean of -6, and the next one cancelled to a negative
# variance; the job run then ended in "math domain error".
SPARSE_TRAIL = (
    (0, 1.0), (264, 2.0), (473, 1.0), (2374, 1.0), (3006, 1.0), (3012, 1.0), (41368, 1.0),
    (41414, 1.0), (42720, 1.0), (42723, 1.0), (42733, 1.0), (42790, 1.0), (45402, 1.0),
)  # fmt: skip


def test_a_decayed_moment_never_has_a_negative_variance() -> None:
    m = Moments(n=5.416335313675548e-32, mean=-6.018023342972743, m2=3.778519806694959e-30)
    m.add(-4.440892098500626e-16, 1.0)  # the update cancels to a rounding error
    assert m.m2 >= 0.0
    assert m.var >= 0.0
    # A state saved before the fix still reads as a variance of zero, not below.
    assert Moments(n=2.0, mean=0.0, m2=-1e-15).var == 0.0


def test_a_year_long_silence_in_a_sparse_count_series_is_scored() -> None:
    model = new_series_model("count", "high", 900.0)
    start = 1_707_439_500.0
    for offset, value in SPARSE_TRAIL:
        t = start + offset * 900.0
        score = model.score_one(t, value)
        assert 0.0 <= score.probability <= 1.0
        model.learn_one(t, value)
