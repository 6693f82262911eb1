"""The pictures of the disagreement page: outlines over the image, the disagreement map.

Pictures are drawn at the size they are shown (a thumbnail, and a larger view
loaded on demand), never at the masks' full resolution, so that a page of
thousands of 1024 x 768 images stays small. Masks are shrunk by area
averaging (a pixel of the thumbnail belongs to a mask when at least half of it
does) before their outline is taken, so that outlines keep their width at
every size.
"""

import io

import numpy as np
from PIL import Image
from scipy import ndimage

# Twenty colours told apart on photographs and on grey (Trubetskoy's list of
# distinct colours); annotators beyond twenty reuse them, and every card names
# the annotator beside its colour.
PALETTE = (
    "#e6194b",
    "#3cb44b",
    "#ffe119",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#46f0f0",
    "#f032e6",
    "#bcf60c",
    "#fabebe",
    "#008080",
    "#e6beff",
    "#9a6324",
    "#fffac8",
    "#800000",
    "#aaffc3",
    "#808000",
    "#ffd8b1",
    "#000075",
    "#ffffff",
)
# Background of a picture without an image: mid grey, on which every colour
# of the palette shows.
_NO_IMAGE = 96
_JPEG = {"format": "JPEG", "quality": 90, "subsampling": 0}  # 4:4:4 keeps thin outlines' colour


def hex_rgb(colour):
    """``"#rrggbb"`` as a uint8 array of three values."""
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.uint8)


def fit_size(shape, size):
    """``(height, width)`` of ``shape`` shrunk to fit ``size`` x ``size``, never enlarged."""
    height, width = shape
    scale = min(1.0, size / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def shrink(values, shape):
    """Area average of a 2-D array of values in [0, 1] down to ``shape``, in [0, 1].

    Computed on 8-bit levels (Pillow's box filter is several times faster on
    them than on floats); 1/255 is far below what a picture can show.
    """
    levels = np.round(np.asarray(values, dtype=np.float32) * 255).astype(np.uint8)
    if levels.shape != tuple(shape):
        levels = np.asarray(
            Image.fromarray(levels).resize((shape[1], shape[0]), Image.Resampling.BOX)
        )
    return levels.astype(np.float32) / 255


def centre_slice(stack):
    """Index along the first axis of the slice through the centre of the masks' union.

    The union of the annotators' masks is the structure; its centre of mass
    gives the slice, moved to the nearest slice holding some foreground (a
    ring-shaped structure can have an empty centre). An empty union gives the
    middle slice.
    """
    per_slice = stack.reshape(stack.shape[0], stack.shape[1], -1).any(axis=(0, 2))
    depth = per_slice.shape[0]
    if not per_slice.any():
        return depth // 2
    counts = stack.any(axis=0).reshape(depth, -1).sum(axis=1)
    centre = int(round(float(np.average(np.arange(depth), weights=counts))))
    filled = np.flatnonzero(per_slice)
    return int(filled[np.argmin(np.abs(filled - centre))])


def as_rgb(image):
    """An image as uint8 RGB ``(H, W, 3)``: grey repeated, other types scaled to 0-255.

    uint8 images are taken as they are; any other numeric image (a CT slice,
    a 16-bit scan) is windowed between its 1st and 99th percentiles.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        image = image[..., :3]
    elif image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.dtype != np.uint8:
        values = image.astype(np.float64)
        finite = values[np.isfinite(values)]
        low, high = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
        scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
        image = (np.clip(np.nan_to_num(scaled), 0, 1) * 255).round().astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image)


def _background(image, shape):
    """The image resized to ``shape`` as float RGB in [0, 255], or plain grey."""
    if image is None:
        return np.full((*shape, 3), float(_NO_IMAGE), dtype=np.float32)
    img = Image.fromarray(image)
    if image.shape[:2] != tuple(shape):
        img = img.resize((shape[1], shape[0]), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.float32)


def _outline(mask, width):
    """The inner border of a bool mask, ``width`` pixels wide (image edges count as outside)."""
    eroded = ndimage.binary_erosion(mask, iterations=width, border_value=0)
    return mask & ~eroded


def outline_picture(image, stacks, colours, shape):
    """Every mask's outline in its colour over the image, at ``shape``; uint8 RGB.

    ``stacks`` holds one bool stack ``(k, H, W)`` per class drawn (one for
    binary masks): the outline of mask ``j`` of every class gets colour ``j``.
    Later masks are drawn over earlier ones where outlines cross.
    """
    picture = _background(image, shape)
    width = 1 if max(shape) < 200 else 2
    for stack in stacks:
        for mask, colour in zip(stack, colours):
            small = shrink(mask, shape) >= 0.5
            picture[_outline(small, width)] = hex_rgb(colour)
    return picture.round().astype(np.uint8)


def map_picture(image, entropy, shape, lut):
    """The disagreement map (pixel entropy, 0 to 1 bit) in colour over the greyed image."""
    grey = _background(image, shape).mean(axis=2, keepdims=True) * 0.45
    level = np.clip(shrink(entropy, shape), 0.0, 1.0)[:, :, None]
    colour = lut[np.round(level[:, :, 0] * (len(lut) - 1)).astype(int)]
    # Where annotators agree the greyed image shows through; where they
    # disagree the colour covers it, fully at one bit.
    alpha = np.where(level > 0, 0.35 + 0.65 * level, 0.0)
    picture = grey * (1 - alpha) + colour * alpha
    return picture.round().astype(np.uint8)


def colour_table(name="inferno", n=256):
    """``n`` RGB colours (float, 0-255) of a matplotlib colour map."""
    from matplotlib import colormaps

    return colormaps[name](np.linspace(0, 1, n))[:, :3].astype(np.float32) * 255


def jpeg_bytes(picture):
    """A uint8 RGB picture as JPEG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, **_JPEG)
    return buffer.getvalue()
