"""How every run of the fuzz targets is made: the suite's short ones (test_fuzz.py) and
the long campaigns (scripts/fuzz_campaign.py)."""
import os

# Inputs up to 8 KiB; an input running 10 s (wall time) or a process past 2 GiB is a
# finding; the figures printed at the end.
OPTIONS = ["-max_len=8192", "-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"]
# UBSan reports stop the run, with a stack, like ASan's.
ENV = dict(os.environ, UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
