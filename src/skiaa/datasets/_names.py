"""File-name conventions of the IMA++ release (shared by the readers and the CLI)."""

import re
from pathlib import Path

# Annotator codes the release uses for consensus masks (STAPLE, majority vote).
from ..agreement import CONSENSUS_CODES

# ISIC_0000004_A04_T1_S2_545d08aabae47821f8802550.png: image id, annotator, tool,
# skill level, mask object id. Consensus masks read ISIC_xxxxxxx_ST_ST_ST_ST.png
# (STAPLE) and ISIC_xxxxxxx_MV_MV_MV_MV.png (majority vote).
_MASK_NAME = re.compile(
    r"^(?P<image_id>ISIC_\d+)_(?P<annotator>A\d+|ST|MV)_(?P<tool>T\d+|ST|MV)"
    r"_(?P<skill>S\d+|ST|MV)_(?P<object_id>[^.]+)\.(?P<ext>png|PNG)$"
)


def parse_mask_filename(name):
    """Parse an IMA++ mask file name into its fields.

    Parameters
    ----------
    name : str or path-like
        File name (a path's directories are ignored), for example
        ``"ISIC_0000004_A04_T1_S2_545d08aabae47821f8802550.png"``.

    Returns
    -------
    fields : dict
        Keys ``image_id``, ``annotator``, ``tool``, ``skill``, ``object_id`` (str)
        and ``is_consensus`` (bool, True for the release's STAPLE ``ST`` and
        majority-vote ``MV`` masks).

    Raises
    ------
    ValueError
        If ``name`` does not follow the IMA++ naming scheme.

    Examples
    --------
    >>> from skiaa.datasets import parse_mask_filename
    >>> f = parse_mask_filename("ISIC_0000004_A04_T1_S2_545d08aabae47821f8802550.png")
    >>> f["image_id"], f["annotator"], f["tool"], f["skill"], f["is_consensus"]
    ('ISIC_0000004', 'A04', 'T1', 'S2', False)
    >>> parse_mask_filename("ISIC_0000004_ST_ST_ST_ST.png")["is_consensus"]
    True
    """
    base = Path(name).name
    match = _MASK_NAME.match(base)
    if match is None:
        raise ValueError(
            f"{base!r} is not an IMA++ mask file name "
            "(expected ISIC_<id>_<annotator>_<tool>_<skill>_<objectid>.png)"
        )
    fields = match.groupdict()
    del fields["ext"]
    fields["is_consensus"] = fields["annotator"] in CONSENSUS_CODES
    return fields
