"""The report's trend chart: first-shot rate per model per week with its 95% band, as SVG coordinates."""

from __future__ import annotations

from ..palette import styles


def trend_weeks(weeks: list[str], has_data: set[str], keep: int = 2) -> list[str]:
    """The trend's weeks from the first with data on (a new store's empty past spends no width), at least ``keep``."""
    first = next((i for i, w in enumerate(weeks) if w in has_data), len(weeks))
    return weeks[min(first, max(len(weeks) - keep, 0)) :]


def chart(weeks: list[str], trend: dict[str, dict[str, dict]], order: list, marks: dict | None = None) -> dict:
    """Coordinates for an inline SVG line chart: a line and a 95% band per model, a gap where a week has no data.

    ``trend`` holds {model: {week: {"rate", "low", "high"}}}; colours follow the models' names (the
    same model, the same line, week after week and in the notebook); the legend follows ``order``
    (the table's); ``marks`` is {model: "up" | "down"} for the real changes, drawn bolder.
    """
    marks = marks or {}
    # The legend is as wide as its longest name (11 px type, a mark and its line beside it):
    # a long model name is never cut off at the chart's edge.
    longest = max((len(str(m)) for m in trend), default=0)
    top, bottom, left, right = 12, 56, 64, max(180, 42 + round(6.4 * longest) + 16)
    width = 480 + right
    height = max(260, top + 16 * len(trend) + bottom)
    plot_w, plot_h = width - left - right, height - top - bottom
    if len(weeks) == 1:
        xs = {weeks[0]: left + plot_w / 2}
    else:
        xs = {w: left + plot_w * i / (len(weeks) - 1) for i, w in enumerate(weeks)}
    style = styles(sorted(trend, key=lambda m: (m is None, m or "")))

    def y(v: float) -> float:
        return top + plot_h * (1 - v)

    series = []
    for i, model in enumerate(m for m in order if m in trend):
        points = trend[model]
        segments, run = [], []
        for w in weeks:
            p = points.get(w)
            if p is None or p.get("rate") is None:
                segments, run = (segments + [run] if run else segments), []
            else:
                run.append((xs[w], p))
        segments += [run] if run else []
        bands = []
        for seg in segments:
            if all(p.get("low") is not None and p.get("high") is not None for _, p in seg):
                upper = [(x, y(p["high"])) for x, p in seg]
                lower = [(x, y(p["low"])) for x, p in reversed(seg)]
                if len(seg) == 1:  # one week alone: a short bar across its point
                    x = seg[0][0]
                    upper = [(x - 4, upper[0][1]), (x + 4, upper[0][1])]
                    lower = [(x + 4, lower[0][1]), (x - 4, lower[0][1])]
                bands.append(" ".join(f"{px:.1f},{py:.1f}" for px, py in upper + lower))
        series.append(
            {
                "model": model,
                **style[model],
                "mark": marks.get(model),
                "segments": [" ".join(f"{x:.1f},{y(p['rate']):.1f}" for x, p in seg) for seg in segments],
                "bands": bands,
                "dots": [{"x": round(x, 1), "y": round(y(p["rate"]), 1)} for seg in segments for x, p in seg],
                "label_y": top + 16 * i + 8,
            }
        )
    has_data = {w for points in trend.values() for w, p in points.items() if p and p.get("rate") is not None}
    grid = [{"y": round(y(v / 100), 1), "label": f"{v}%"} for v in (0, 25, 50, 75, 100)]
    ticks = [{"x": round(x, 1), "label": w[-3:], "empty": w not in has_data} for w, x in xs.items()]
    return {
        "width": width,
        "height": height,
        "left": left,
        "top": top,
        "mid_y": round(top + plot_h / 2, 1),
        "mid_x": round(left + plot_w / 2, 1),
        "right_x": width - right + 10,
        "bottom": height - bottom,
        "series": series,
        "grid": grid,
        "ticks": ticks,
    }
