"""The summary figures of the disagreement page, as PNG bytes.

Drawn with matplotlib's object interface (``Figure`` and the Agg canvas), so
that writing a page neither needs nor changes pyplot's global state.
"""

import io

import numpy as np


def _horizontal():
    import matplotlib

    # ``orientation`` replaced ``vert`` in matplotlib 3.10; skiaa supports 3.7 on.
    major, minor = (int(v) for v in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


def _figure(width=5.0, height=3.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def iaa_histogram(iaa):
    """Histogram of the images' agreement (mean pairwise Dice)."""
    fig = _figure()
    ax = fig.add_subplot()
    values = np.asarray(iaa, dtype=float)
    values = values[np.isfinite(values)]
    ax.hist(values, bins=np.linspace(0, 1, 41), color="#4363d8")
    if values.size:
        ax.axvline(np.median(values), color="#e6194b", lw=1.5, label="median")
        ax.legend(frameon=False, loc="upper left")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set(xlim=(0, 1), xlabel="IAA (mean pairwise Dice)", ylabel="images")
    ax.set_title("Agreement per image", loc="left")
    return _png(fig)


def boxes(values, xlabel, title, colours=None):
    """One horizontal box per group, top to bottom in the order of ``values``.

    ``values`` maps a group name (an annotator, a pair of tools) to its values
    in [0, 1]; ``colours`` maps a name to its fill colour (default: one colour).
    """
    names = list(values)
    colours = colours or {}
    fig = _figure(height=max(2.2, 0.9 + 0.3 * len(names)))
    ax = fig.add_subplot()
    data = [np.asarray(values[n], dtype=float) for n in names]
    drawn = ax.boxplot(
        [d[np.isfinite(d)] for d in data],
        **_horizontal(),
        patch_artist=True,
        widths=0.6,
        showfliers=False,
    )
    # Tick labels set apart: boxplot's keyword for them changed name in matplotlib 3.9.
    ax.set_yticks(np.arange(1, len(names) + 1), names)
    for patch, name in zip(drawn["boxes"], names):
        patch.set(facecolor=colours.get(name, "#aaffc3"), edgecolor="#333333")
    for median in drawn["medians"]:
        median.set_color("#000000")
    ax.invert_yaxis()
    ax.set(xlim=(0, 1), xlabel=xlabel)
    ax.set_title(title, loc="left")
    return _png(fig)
