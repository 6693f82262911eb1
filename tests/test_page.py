"""The disagreement page: its content, its pictures, its errors (no browser needed).

What the page shows is checked against the functions that compute it
(``mask_folder_agreement``, ``annotator_vs_consensus``); the browser tests
(``tests/test_page_browser.py``) check that Chromium renders it.
"""

import re
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from skiaa.agreement import annotator_vs_consensus, dice
from skiaa.cli import main
from skiaa.datasets import make_lesions
from skiaa.page import FILES_DIR, PAGE_FILE, disagreement_page, find_images, mask_folder_page
from skiaa.page._render import PALETTE, centre_slice, hex_rgb, outline_picture
from skiaa.utils import OutputFolder, OutputFolderError


class _Cards(HTMLParser):
    """The cards of a page (their data attributes) and every referenced URL."""

    def __init__(self):
        super().__init__()
        self.cards, self.urls, self.scripts = [], [], []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "article":
            self.cards.append(attrs)
        for key in ("src", "href", "data-large"):
            if attrs.get(key):
                self.urls.append(attrs[key])
        self.urls.extend(re.findall(r"url\('([^']*)'\)", attrs.get("style") or ""))
        self._in_script = tag == "script"

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)

    def handle_endtag(self, tag):
        self._in_script = False


def _parse(path):
    parser = _Cards()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _blob(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def _write_folder(folder, shapes, *, with_images=True):
    """Three annotators' disc masks per image (IMA++ names) and JPEG images."""
    masks, images = folder / "masks", folder / "images"
    masks.mkdir(parents=True)
    images.mkdir()
    rng = np.random.default_rng(0)
    for i, shape in enumerate(shapes):
        image_id = f"ISIC_{i:07d}"
        centre = (shape[0] / 2, shape[1] / 2)
        for j, (a, t, s) in enumerate(
            [("A01", "T1", "S1"), ("A02", "T3", "S2"), ("A03", "T1", "S1")]
        ):
            radius = min(shape) * (0.2 + 0.08 * j * (i + 1) / len(shapes))
            Image.fromarray(_blob(shape, centre, radius).astype(np.uint8) * 255).save(
                masks / f"{image_id}_{a}_{t}_{s}_o{j}.png"
            )
        if with_images:
            picture = rng.integers(0, 255, size=(*shape, 3), dtype=np.uint8)
            Image.fromarray(picture).save(images / f"{image_id}.jpg")
    return masks, images


@pytest.fixture(scope="module")
def demo_page(tmp_path_factory):
    out = tmp_path_factory.mktemp("page")
    data = make_lesions(12, image_size=48, random_state=0)
    result = disagreement_page(
        out,
        data.masks,
        data.images,
        image_ids=data.image_ids,
        annotators=data.annotators,
        tools=data.tools,
        skills=data.skills,
        metrics=["dice", "hd95"],
        detail_size=None,
    )
    return out, data, result


def test_cards_sorted_worst_first_with_the_tables_numbers(demo_page):
    out, data, result = demo_page
    cards = _parse(out / PAGE_FILE).cards
    iaa = dict(zip(result.images["img_id"], result.images["dice_score_mean"]))
    assert [c["data-id"] for c in cards] == sorted(iaa, key=lambda i: (np.isnan(iaa[i]), iaa[i]))
    for card in cards:
        assert float(card["data-iaa"]) == pytest.approx(iaa[card["data-id"]], abs=1e-12)
    assert [int(c["data-rank"]) for c in cards] == list(range(1, len(cards) + 1))
    # The IAA is the mean pairwise Dice of the masks themselves.
    first = list(data.image_ids).index(cards[0]["data-id"])
    masks = data.masks[first]
    pairs = [dice(masks[i], masks[j]) for i in range(len(masks)) for j in range(i + 1, len(masks))]
    assert float(cards[0]["data-iaa"]) == pytest.approx(np.mean(pairs))


def test_page_needs_no_network_and_every_picture_exists(demo_page):
    out, _, _ = demo_page
    parsed = _parse(out / PAGE_FILE)
    text = (out / PAGE_FILE).read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=\"(https?:)?//", text)
    assert "fetch(" not in text and "@import" not in text
    pictures = [u for u in parsed.urls if not u.startswith("data:")]
    assert pictures and all(u.startswith(f"{FILES_DIR}/") for u in pictures)
    assert all((out / u).is_file() for u in pictures)
    assert sorted(p.name for p in (out / FILES_DIR).iterdir()) == sorted(
        u.split("/")[1] for u in pictures
    )
    # Thumbnails are CSS backgrounds (fetched only for cards drawn) whose box
    # has the picture's shape before it loads; no <img> but the viewer's two.
    assert text.count('class="pic"') == 2 * len(_parse(out / PAGE_FILE).cards)
    assert text.count("aspect-ratio:") == text.count('class="pic"')
    assert text.count("<img") == 2 + text.count('src="data:image/png')


def test_leave_one_out_column_is_annotator_vs_consensus(demo_page):
    _, data, result = demo_page
    table = result.annotators
    assert len(table) == sum(len(m) for m in data.masks)
    for i in (0, 5):
        expected = annotator_vs_consensus(data.masks[i], data.annotators[i], metrics=["dice"])
        got = table[table["image_id"] == data.image_ids[i]]["dice_vs_others"].to_numpy()
        np.testing.assert_allclose(got, expected["dice"].to_numpy(), equal_nan=True)


def test_outline_colours_fall_on_each_masks_border():
    shape = (40, 60)
    a, b = _blob(shape, (20, 20), 10), _blob(shape, (20, 40), 8)
    picture = outline_picture(None, [np.stack([a, b])], PALETTE[:2], shape)
    for mask, colour in ((a, PALETTE[0]), (b, PALETTE[1])):
        painted = np.all(picture == hex_rgb(colour), axis=2)
        border = mask & ~np.pad(
            mask[2:, 1:-1] & mask[:-2, 1:-1] & mask[1:-1, 2:] & mask[1:-1, :-2], 1
        )
        # Exactly the mask's inner border (4-connected erosion), nothing outside it.
        np.testing.assert_array_equal(painted, border)


def test_centre_slice_goes_through_the_structure():
    stack = np.zeros((2, 20, 8, 8), bool)
    stack[:, 12:17, 2:6, 2:6] = True
    assert centre_slice(stack) == 14
    ring = np.zeros((1, 21, 4, 4), bool)  # two separate parts: centre slice 10 is empty
    ring[0, 2:4] = ring[0, 17:19] = True
    assert ring[0, centre_slice(ring)].any()
    assert centre_slice(np.zeros((2, 9, 4, 4), bool)) == 4


def test_volumes_show_the_centre_slice(tmp_path):
    volume = np.zeros((3, 10, 24, 20), bool)
    for j in range(3):
        volume[j, 4:8, 6 : 14 + j, 5:15] = True
    result = disagreement_page(tmp_path, [volume], image_ids=["case"], metrics=["dice"])
    text = result.path.read_text(encoding="utf-8")
    assert "slice 6 (counted from 0) of 10" in text  # slices 4-7 marked
    with Image.open(tmp_path / FILES_DIR / "00001-outlines.jpg") as img:
        assert img.size == (20, 24)


def test_folder_page_with_images_and_tables(tmp_path):
    masks, images = _write_folder(tmp_path, [(30, 40), (30, 40), (24, 24)])
    result = mask_folder_page(
        masks, tmp_path / "out", image_dir=images, tables=("pairs.csv", "images.csv")
    )
    assert (tmp_path / "out" / "pairs.csv").is_file()
    cards = _parse(result.path).cards
    assert len(cards) == 3 and all(c["data-a"] == "a0 a1 a2" for c in cards)
    assert {c["data-t"] for c in cards} == {"t0 t1"}
    # The 24 x 24 image disagrees most; pictures are numbered in the input's order.
    assert cards[0]["data-id"] == "ISIC_0000002"
    with Image.open(tmp_path / "out" / FILES_DIR / "00003-outlines.jpg") as img:
        assert img.size == (24, 24)
    with Image.open(tmp_path / "out" / FILES_DIR / "00001-map.jpg") as img:
        assert img.size == (40, 30)


def test_missing_image_warns_and_wrong_size_names_the_image(tmp_path):
    masks, images = _write_folder(tmp_path, [(30, 40), (30, 40)])
    (images / "ISIC_0000001.jpg").unlink()
    with pytest.warns(UserWarning, match=r"1 image\(s\) have no image file.*ISIC_0000001"):
        mask_folder_page(masks, tmp_path / "out", image_dir=images)
    Image.fromarray(np.zeros((31, 40, 3), np.uint8)).save(images / "ISIC_0000001.png")
    before = (tmp_path / "out" / PAGE_FILE).read_bytes()
    with pytest.raises(ValueError, match=r"image ISIC_0000001: ISIC_0000001.png is 31 x 40"):
        mask_folder_page(masks, tmp_path / "out", image_dir=images, force=True)
    assert (tmp_path / "out" / PAGE_FILE).read_bytes() == before  # nothing replaced
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(images / "ISIC_0000001.jpeg")
    with pytest.raises(ValueError, match=r"image ISIC_0000001: several image files"):
        find_images(images, ["ISIC_0000001"])


def test_existing_page_is_kept_without_force(tmp_path, demo_page):
    _, data, _ = demo_page
    disagreement_page(tmp_path, data.masks[:2], metrics=["dice"])
    before = (tmp_path / PAGE_FILE).read_bytes()
    with pytest.raises(
        OutputFolderError, match=r"disagreement\.html already exist; use force=True"
    ):
        disagreement_page(tmp_path, data.masks[:3], metrics=["dice"])
    assert (tmp_path / PAGE_FILE).read_bytes() == before
    disagreement_page(tmp_path, data.masks[:1], metrics=["dice"], force=True)
    # The pictures of the earlier, larger page are gone with it.
    assert sorted(p.name[:5] for p in (tmp_path / FILES_DIR).iterdir()) == ["00001"] * 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"thumbnail_size": 8}, "thumbnail_size must be an int of at least 16"),
        ({"detail_size": 100, "thumbnail_size": 200}, "detail_size .100. must be larger"),
        ({"consensus": "mean"}, "consensus must be one of"),
        ({"tables": ("a.csv",)}, "tables must be two file names"),
        ({"image_ids": ["a"]}, r"image_ids must have one entry per image \(2\), got 1"),
        ({"annotators": [["A"], ["B", "C"]]}, r"image 0: annotators must have one entry per mask"),
    ],
)
def test_bad_options_fail_before_any_file(tmp_path, kwargs, message):
    masks = [np.ones((2, 4, 4), bool), np.ones((2, 4, 4), bool)]
    with pytest.raises(ValueError, match=message):
        disagreement_page(tmp_path / "out", masks, **kwargs)
    assert not (tmp_path / "out").exists()


def test_names_are_escaped(tmp_path):
    masks = [np.stack([_blob((16, 16), (8, 8), 5), _blob((16, 16), (8, 8), 4)])]
    result = disagreement_page(
        tmp_path, masks, image_ids=["<b>x</b>"], annotators=[["<script>", "O'Neil"]]
    )
    text = result.path.read_text(encoding="utf-8")
    assert "<script>alert" not in text and "&lt;script&gt;" in text and "&lt;b&gt;x" in text
    assert text.count("<script") == 2  # the page's data block and its script, nothing else


def test_folder_output_replaces_the_old_folder_as_a_whole(tmp_path):
    def fill(names):
        return lambda folder: [(folder / n).write_text(n) for n in names]

    def write(writers):
        with OutputFolder(tmp_path, ["pics/", "p.html"], force=True) as folder:
            folder.commit(writers)

    write({"pics/": fill(["a", "b"]), "p.html": lambda p: p.write_text("1")})
    write({"pics/": fill(["c"]), "p.html": lambda p: p.write_text("2")})
    assert sorted(p.name for p in (tmp_path / "pics").iterdir()) == ["c"]

    def fail(path):
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputFolderError, match=r"cannot write p\.html in .*No space left"):
        write({"pics/": fill(["d"]), "p.html": fail})
    assert sorted(p.name for p in (tmp_path / "pics").iterdir()) == ["c"]
    assert (tmp_path / "p.html").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.html", "pics"]  # no temporary left


def test_cli_html_writes_page_and_tables(tmp_path, capsys):
    masks, images = _write_folder(tmp_path, [(20, 20), (20, 20)])
    out = tmp_path / "out"
    code = main(
        ["agreement", str(masks), "--images", str(images), "--html", "--out", str(out), "-q"]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [PAGE_FILE, FILES_DIR, "pairwise_metrics.csv", "image_level_metrics.csv"]
    )
    assert len(_parse(out / PAGE_FILE).cards) == 2
    with pytest.raises(SystemExit):
        main(["agreement", str(masks), "--images", str(images), "--out", str(out)])
    assert "--images is only used by --html" in capsys.readouterr().err


def test_cli_html_over_a_finished_page_names_the_command_line_flag(tmp_path, capsys):
    masks, images = _write_folder(tmp_path, [(20, 20)])
    out = tmp_path / "out"
    args = ["agreement", str(masks), "--images", str(images), "--html", "--out", str(out), "-q"]
    assert main(args) == 0
    before = (out / PAGE_FILE).read_bytes()
    assert main(args) != 0
    err = capsys.readouterr().err
    assert f"{out / PAGE_FILE}" in err and "--force on the command line" in err
    assert (out / PAGE_FILE).read_bytes() == before


def test_consensus_masks_are_paired_in_the_table_but_never_drawn(tmp_path):
    masks, images = _write_folder(tmp_path, [(30, 40)])
    Image.fromarray(_blob((30, 40), (15, 20), 7).astype(np.uint8) * 255).save(
        masks / "ISIC_0000000_ST_ST_ST_ST.png"
    )
    result = mask_folder_page(masks, tmp_path / "out", image_dir=images, include_consensus=True)
    assert (result.pairs["annotator2"] == "ST").sum() == 3  # the tables keep them
    assert "ST" not in set(result.annotators["annotator"])
    text = result.path.read_text(encoding="utf-8")
    card = text[text.index("<article") : text.index("</article>")]
    assert "ST" not in re.sub(r"<[^>]+>", " ", card).split()  # not in the legend nor the pairs
    assert card.count("<tr><td>") == 3  # the three annotator pairs


def test_card_pairs_table_shows_the_pairs_values(demo_page):
    out, _, result = demo_page
    text = (out / PAGE_FILE).read_text(encoding="utf-8")
    for image_id, group in result.pairs.groupby("img_id"):
        card = text[text.index(f'data-id="{image_id}"') :]
        card = card[: card.index("</article>")]
        for row in group.itertuples():
            cells = f"<td>{row.annotator1} – {row.annotator2}</td><td>{row.dice_score:.3f}</td>"
            assert cells in card


def test_nifti_image_is_read_in_its_masks_orientation(tmp_path):
    nibabel = pytest.importorskip("nibabel")
    case = tmp_path / "masks" / "case1"
    case.mkdir(parents=True)
    blob = np.zeros((8, 16, 16), np.uint8)
    blob[2:6, 2:6, 4:12] = 1
    other = blob.copy()
    other[2:6, 2:7, 4:12] = 1
    for name, mask in (("r1", blob), ("r2", other)):
        nibabel.save(nibabel.Nifti1Image(mask, np.eye(4)), case / f"{name}.nii.gz")
    # The image stores its second axis reversed, and its affine says so.
    flip = np.diag([1.0, -1.0, 1.0, 1.0])
    flip[1, 3] = 15.0
    volume = blob.astype(np.float32) * 1000
    images = tmp_path / "images"
    images.mkdir()
    nibabel.save(nibabel.Nifti1Image(volume[:, ::-1].copy(), flip), images / "case1.nii.gz")
    result = mask_folder_page(tmp_path / "masks", tmp_path / "out", image_dir=images)
    with Image.open(tmp_path / "out" / FILES_DIR / "00001-outlines.jpg") as img:
        grey = np.asarray(img.convert("L"), dtype=float)
    # The bright lesion of the image lies inside the masks, not mirrored away from them.
    assert grey[3:5, 6:10].mean() > 200 > 50 > grey[10:14, 6:10].mean()
    assert "slice 4 (counted from 0) of 8" in result.path.read_text(encoding="utf-8")


def test_label_maps_get_a_page_per_class_with_that_class_numbers(tmp_path):
    rng = np.random.default_rng(1)
    maps = []
    for _ in range(3):
        stack = np.zeros((3, 30, 40), np.uint8)
        for j in range(3):
            stack[j][_blob((30, 40), (15, 20), 11 + rng.integers(-2, 3))] = 2
            stack[j][_blob((30, 40), (15, 20), 4 + rng.integers(-1, 2))] = 5
        maps.append(stack)
    result = disagreement_page(tmp_path, maps, labels=[2, 5], metrics=["dice"])
    assert sorted(p.name for p in tmp_path.glob("*.html")) == [
        "disagreement.html",
        "disagreement_label2.html",
        "disagreement_label5.html",
    ]
    images = result.images.set_index("img_id")
    for page, column in (
        ("disagreement.html", "dice_score_mean"),  # the mean over the classes
        ("disagreement_label5.html", "dice_score_label5_mean"),
    ):
        cards = _parse(tmp_path / page).cards
        iaa = [float(c["data-iaa"]) for c in cards]
        assert iaa == sorted(iaa)  # each page worst first by its own class
        for card in cards:
            assert float(card["data-iaa"]) == pytest.approx(images.loc[card["data-id"], column])
        assert 'id="f-class"' in (tmp_path / page).read_text(encoding="utf-8")
    # Class 5 alone: its Dice with the leave-one-out consensus of class 5.
    expected = annotator_vs_consensus(maps[0] == 5, ["R1", "R2", "R3"], metrics=["dice"])
    got = result.annotators[result.annotators["image_id"] == "0"]["dice_vs_others_label5"]
    np.testing.assert_allclose(got.to_numpy(), expected["dice"].to_numpy())
    both = result.annotators[["dice_vs_others_label2", "dice_vs_others_label5"]].mean(axis=1)
    np.testing.assert_allclose(result.annotators["dice_vs_others"], both)


def test_cli_html_with_labels(tmp_path):
    folder = tmp_path / "masks" / "case"
    folder.mkdir(parents=True)
    for j, radius in enumerate((8, 9, 10)):
        label_map = np.zeros((24, 24), np.uint8)
        label_map[_blob((24, 24), (12, 12), radius)] = 1
        label_map[_blob((24, 24), (12, 12), radius // 2)] = 2
        Image.fromarray(label_map).save(folder / f"rater{j}.png")
    out = tmp_path / "out"
    args = ["agreement", str(tmp_path / "masks"), "--labels", "1", "2", "--html"]
    assert main([*args, "--out", str(out), "-q"]) == 0
    assert (out / "disagreement_label2.html").is_file()
    assert "dice_score_label2" in (out / "pairwise_metrics.csv").read_text().splitlines()[0]
