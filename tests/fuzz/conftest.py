"""Hypothesis profiles of the fuzzers: `ci` (the default) and `long` (`make fuzz`).

ci is derandomized, so a CI run is reproducible and a failure shows up again on the next run;
long draws fresh random examples, many more of them. The per-example deadline is far above
what any parser needs, so only a hang (or a pathological slowdown) trips it; the parsers whose
input could make them loop run under tests.fuzz.hang_guard as well, since a deadline only
reports an example after it has finished.
"""

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

from tests.fuzz.budget import PROFILE, PROFILE_ENV

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile("ci", derandomize=True, database=None, max_examples=300,
                          deadline=timedelta(seconds=5), suppress_health_check=_SLOW_IS_FINE,
                          print_blob=True)
settings.register_profile("long", derandomize=False, max_examples=5000,
                          deadline=timedelta(seconds=10), suppress_health_check=_SLOW_IS_FINE,
                          print_blob=True)

if PROFILE not in ("ci", "long"):
    raise SystemExit(f"{PROFILE_ENV}={os.environ.get(PROFILE_ENV)!r}: expected ci or long")
settings.load_profile(PROFILE)
