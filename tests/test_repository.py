"""The checkout holds code and documentation, not files a test or an example wrote."""

from pathlib import Path

# The tests live in the checkout whether skiaa runs from src/ or is installed (tox).
ROOT = Path(__file__).resolve().parents[1]
# What a test, an example or a docstring example writes: tables, images, arrays.
_DATA_SUFFIXES = {".csv", ".png", ".jpg", ".jpeg", ".npy", ".npz", ".nii", ".gz", ".pt", ".pth"}


def test_no_data_file_at_the_repository_root():
    assert (ROOT / "pyproject.toml").is_file()
    stray = sorted(p.name for p in ROOT.iterdir() if p.suffix.lower() in _DATA_SUFFIXES)
    assert stray == []


def test_tests_run_in_their_own_folder(tmp_path):
    # tests/conftest.py: a relative path written by a test lands in its tmp_path.
    Path("written.csv").write_text("a,b\n")
    assert (tmp_path / "written.csv").is_file()
