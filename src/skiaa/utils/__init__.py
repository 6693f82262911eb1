"""Private helpers shared by every layer of skiaa (not part of the public API).

The lowest layer: it imports numpy, scikit-learn, joblib, Pillow and tqdm only, and any skiaa
module may import from here (``from ..utils import ...``), never from its
private submodules.
"""

from ._images import (
    ACCEPTED_LAYOUTS,
    check_float_range,
    describe_rows,
    image_to_uint8,
    open_image,
    pil_image_array,
    resize_uint8,
    rgb_uint8,
)
from ._labels import check_labels
from ._outputs import (
    DISK_FULL,
    OUTPUT_NAMES,
    OutputFolder,
    OutputFolderError,
    check_output_dir,
    is_disk_full,
    locked_temporary_file,
    remove_stale_temporaries,
    temporary_file,
    umask_mode,
    write_error,
    writing,
)
from ._progress import progress
from ._random import as_generator, check_random_state, draw_seed
from ._validation import check_image_size, is_path, is_path_sequence
from ._warnings import warn_caller

__all__ = [
    "DISK_FULL",
    "OUTPUT_NAMES",
    "OutputFolder",
    "OutputFolderError",
    "is_disk_full",
    "locked_temporary_file",
    "remove_stale_temporaries",
    "write_error",
    "writing",
    "ACCEPTED_LAYOUTS",
    "check_float_range",
    "describe_rows",
    "image_to_uint8",
    "open_image",
    "pil_image_array",
    "resize_uint8",
    "rgb_uint8",
    "as_generator",
    "check_image_size",
    "check_labels",
    "check_output_dir",
    "check_random_state",
    "draw_seed",
    "is_path",
    "is_path_sequence",
    "progress",
    "temporary_file",
    "umask_mode",
    "warn_caller",
]
