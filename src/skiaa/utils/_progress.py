"""Progress reporting shared by every long-running skiaa function."""

from tqdm.auto import tqdm


def progress(iterable=None, *, verbose=0, desc=None, total=None, unit="it", unit_scale=False):
    """Wrap ``iterable`` in a tqdm progress bar when ``verbose`` is truthy.

    Parameters
    ----------
    iterable : iterable, default=None
        What to iterate over; when None, a bar updated by hand is returned.
    verbose : int or bool, default=0
        0/False: no bar (the iterable is returned unchanged, or a disabled bar
        when ``iterable`` is None); anything else shows the bar on stderr.
    desc : str, default=None
        Label shown before the bar.
    total : int, default=None
        Number of items, when ``len(iterable)`` is unknown.
    unit : str, default="it"
        Unit shown in the rate.
    unit_scale : bool, default=False
        Whether to show counts with SI prefixes (``3.2MB``), for bytes.

    Returns
    -------
    iterable or tqdm.tqdm
    """
    if not verbose and iterable is not None:
        return iterable
    return tqdm(
        iterable,
        desc=desc,
        total=total,
        unit=unit,
        unit_scale=unit_scale,
        disable=not verbose,
        leave=False,
    )
