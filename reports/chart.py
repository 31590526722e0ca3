"""The geometry of a line chart for a performance series, for the HTML report's inline SVG.

Only numbers leave this module; the template draws them and escapes the labels, so the chart
needs neither a plotting library nor script in the page.
"""

from __future__ import annotations

from dataclasses import dataclass

from reports.model import Series

WIDTH = 640
HEIGHT = 240
# Room for the axis labels: left, right, top, bottom.
_MARGIN = (64, 16, 12, 36)
_TICKS = 4


@dataclass(frozen=True)
class Tick:
    """A labelled position along an axis, in SVG user units."""

    position: float
    label: str


@dataclass(frozen=True)
class LineChart:
    """A polyline and its axes, in an SVG viewBox of ``width`` x ``height``."""

    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    points: str
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]


def line_chart(series: Series) -> LineChart | None:
    """Lay out ``series`` as a line chart, or return None when it has no points to draw."""
    if not series.points:
        return None
    left, right = _MARGIN[0], WIDTH - _MARGIN[1]
    top, bottom = _MARGIN[2], HEIGHT - _MARGIN[3]
    xs = [x for x, _ in series.points]
    ys = [y for _, y in series.points]
    x_low, x_high = _span(min(xs), max(xs))
    # Throughput and latency start from zero, so that the chart does not exaggerate a wobble.
    y_low, y_high = _span(min(0.0, min(ys)), max(ys))

    def sx(x: float) -> float:
        return left + (x - x_low) / (x_high - x_low) * (right - left)

    def sy(y: float) -> float:
        return bottom - (y - y_low) / (y_high - y_low) * (bottom - top)

    points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in series.points)
    x_ticks = tuple(Tick(round(sx(v), 1), _label(v)) for v in _steps(x_low, x_high))
    y_ticks = tuple(Tick(round(sy(v), 1), _label(v)) for v in _steps(y_low, y_high))
    return LineChart(WIDTH, HEIGHT, left, right, top, bottom, points, x_ticks, y_ticks)


def _span(low: float, high: float) -> tuple[float, float]:
    """Widen an empty range, so that a single point or a flat line still has a scale."""
    if high > low:
        return low, high
    return low - 1.0, high + 1.0


def _steps(low: float, high: float) -> list[float]:
    return [low + (high - low) * i / _TICKS for i in range(_TICKS + 1)]


def _label(value: float) -> str:
    return f"{value:.3g}"
