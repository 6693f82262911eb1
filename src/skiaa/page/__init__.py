"""A page to look at the annotators' disagreement, image by image.

:func:`disagreement_page` (masks in memory) and :func:`mask_folder_page` (a
folder of mask files, ``skiaa agreement MASK_DIR --images IMG_DIR --html``)
write one HTML page that opens from the file system without a network: the
images sorted by agreement, worst first, each with every annotator's outline
over the image and the disagreement map, its pairwise table and each
annotator against the consensus of the others; filters by annotator and tool;
summary figures. The page lays out what the agreement functions compute; it
computes nothing of its own.
"""

from ._page import (
    FILES_DIR,
    IMAGE_EXTENSIONS,
    PAGE_FILE,
    disagreement_page,
    find_images,
    mask_folder_page,
)

__all__ = [
    "PAGE_FILE",
    "FILES_DIR",
    "IMAGE_EXTENSIONS",
    "disagreement_page",
    "mask_folder_page",
    "find_images",
]
