"""The console's charts and histogram arithmetic (in process: no venue, no sockets)."""

from __future__ import annotations

import math

from venue.console.charts import depth_chart, histogram_bars, seconds_label, trend_lines
from venue.console.latency import Histogram, parse

INF = math.inf


def test_quantiles_interpolate_inside_the_bucket_like_prometheus():
    h = Histogram([0.001, 0.01, INF], [50, 100, 100], total=0.3, count=100)
    assert h.quantile(0.5) == 0.001
    assert math.isclose(h.quantile(0.75) or 0, 0.0055)
    assert h.mean() == 0.003
    assert Histogram([0.001, INF], [0, 0]).quantile(0.99) is None
    assert Histogram([0.001, INF], [0, 5], count=5).quantile(0.5) == 0.001  # in +Inf


def test_a_window_is_the_difference_of_two_scrapes_and_a_restart_resets_it():
    before = Histogram([0.001, INF], [10, 12], 0.5, 12)
    after = Histogram([0.001, INF], [15, 20], 0.9, 20)
    window = after.minus(before)
    assert (window.cumulative, window.count, window.counts()) == ([5, 8], 8, [5, 3])
    assert before.minus(after) is before  # counts went down: the venue restarted


def test_parse_reads_histograms_and_labelled_samples():
    text = (
        "# TYPE venue_journal_fsync_seconds histogram\n"
        'venue_journal_fsync_seconds_bucket{le="0.001"} 3.0\n'
        'venue_journal_fsync_seconds_bucket{le="+Inf"} 4.0\n'
        "venue_journal_fsync_seconds_sum 0.01\nvenue_journal_fsync_seconds_count 4.0\n"
        "# TYPE venue_rejects_total counter\n"
        'venue_rejects_total{code="HALTED"} 2.0\n'
    )
    scrape = parse(text, 0.0)
    h = scrape.histograms["venue_journal_fsync_seconds"]
    assert (h.bounds, h.cumulative, h.count) == ([0.001, INF], [3.0, 4.0], 4.0)
    assert scrape.labelled("venue_rejects_total", "code") == {"HALTED": 2.0}


def test_labels_and_charts():
    assert [seconds_label(v) for v in (10e-6, 0.0025, 1.0, INF)] == ["10µs", "2.5ms", "1s", "+Inf"]
    bars = histogram_bars([0.001, INF], [3, 1], [1, 1], "x <y>")
    assert bars.count('class="hbar"') == 4 and "x &lt;y&gt;" in bars
    lines = trend_lines([(0.0, 1e-4, 1e-3), (1.0, 2e-4, 2e-3)], "t", 60)
    assert 'class="line p50"' in lines and lines.count('class="dot p99"') == 2
    depth = depth_chart([["189.50", 300, 1], ["189.40", 500, 2]], [["190.50", 200, 1]], "d")
    assert 'class="depth bid"' in depth and 'class="depth ask"' in depth
    assert "800 in 2 levels" in depth  # cumulative
    assert "no orders" in depth_chart([], [], "empty")
