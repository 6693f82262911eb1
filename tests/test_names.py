import pytest

from skiaa.datasets import parse_mask_filename


def test_parse_annotator_mask():
    f = parse_mask_filename("/x/y/ISIC_0000004_A04_T1_S2_545d08aabae47821f8802550.png")
    assert f == {
        "image_id": "ISIC_0000004",
        "annotator": "A04",
        "tool": "T1",
        "skill": "S2",
        "object_id": "545d08aabae47821f8802550",
        "is_consensus": False,
    }


@pytest.mark.parametrize("code", ["ST", "MV"])
def test_parse_consensus_mask(code):
    f = parse_mask_filename(f"ISIC_0012345_{code}_{code}_{code}_{code}.png")
    assert f["is_consensus"] and f["annotator"] == code and f["image_id"] == "ISIC_0012345"


@pytest.mark.parametrize("bad", ["ISIC_0000004.JPG", "mask.png", "ISIC_1_A01_T1.png"])
def test_parse_rejects_other_names(bad):
    with pytest.raises(ValueError, match="not an IMA\\+\\+ mask file name"):
        parse_mask_filename(bad)


def test_every_real_mask_name_parses(imaplusplus_dir):
    import pandas as pd

    seg = pd.read_csv(imaplusplus_dir / "IMAplusplus_multiannotator_subset_seg_metadata.csv")
    parsed = [parse_mask_filename(n) for n in seg["seg_filename"]]
    assert [p["image_id"] for p in parsed] == list(seg["ISIC_id"])
    assert [p["annotator"] for p in parsed] == list(seg["annotator"])
