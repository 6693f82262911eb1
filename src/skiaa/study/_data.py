"""Step 1 of the study: the data (synthetic lesions or the IMA++ release)."""

from pathlib import Path

import numpy as np

from ._store import digest


class _StudyData:
    """What the later steps need: ids, labels, masks or pairs, images."""

    def __init__(self, *, ids, diagnosis, masks=None, pairs=None, images=None, table_iaa=None,
                 source="", notes=(), content=None):  # fmt: skip
        self.ids = np.asarray(ids)
        self.diagnosis = np.asarray(diagnosis, dtype=object)
        self.masks = masks
        # A table, or a callable making it: synthetic pairs are computed only when the
        # statistics step runs (a resumed study reads that step back instead).
        self._pairs = pairs
        self.images = images
        self.table_iaa = table_iaa
        self.source = source
        self.notes = list(notes)
        # What each input's digest is computed from (see ``digest``): callables, so
        # that only the inputs of steps that are not read back get hashed.
        self._content = dict(content or {})
        self._digests = {}

    def digest(self, name):
        """Content digest of input ``name`` ("ids", "diagnosis", "masks", "pairs", "images").

        Step keys are made of these, so that a changed file or array is never
        served from the cache.
        """
        if name not in self._digests:
            if name in self._content:
                self._digests[name] = digest(self._content[name]())
            elif name == "ids":
                self._digests[name] = digest(self.ids.astype(str))
            elif name == "diagnosis":
                self._digests[name] = digest(self.diagnosis.astype(str))
            elif name == "images":
                self._digests[name] = digest(np.asarray(self.images))
            elif name == "pairs":
                self._digests[name] = digest(self.pairs)
            else:
                raise KeyError(name)
        return self._digests[name]

    @property
    def has_factor_columns(self):
        """Whether the pairs table has annotator, tool and skill columns."""
        if callable(self._pairs):
            return True  # the synthetic pairs table is made with them
        return self._pairs is not None and {"annotator1", "tool1", "skill_level1"} <= set(
            self._pairs
        )

    @property
    def pairs(self):
        if callable(self._pairs):
            self._pairs = self._pairs()
        return self._pairs


def _load_data(config, out_dir, verbose):
    if config.data == "synthetic":
        from ..datasets import make_lesions

        bunch = make_lesions(
            config.n_samples,
            image_size=config.image_size,
            random_state=config.random_state,
        )
        return _StudyData(
            ids=bunch.image_ids,
            diagnosis=bunch.diagnosis,
            masks=bunch.masks,
            pairs=lambda: _synthetic_pairs(bunch),
            images=bunch.images,
            content={
                "masks": lambda: list(bunch.masks),
                # The synthetic pairs table is made from these.
                "pairs": lambda: [list(bunch.masks), bunch.annotators, bunch.tools, bunch.skills],
            },
            source=(
                f"synthetic: make_lesions({config.n_samples}, image_size={config.image_size}, "
                f"random_state={config.random_state})"
            ),
        )

    from ..datasets import load_images, load_imaplusplus

    frame = load_imaplusplus(config.imaplusplus, images=config.images)
    pairs = load_imaplusplus(config.imaplusplus, table="pairs")
    notes = []
    n_indeterminate = int(frame["is_indeterminate"].sum())
    if n_indeterminate:
        notes.append(
            f"{n_indeterminate} images with an indeterminate diagnosis are kept in the agreement "
            "step and left out of the benign/malignant comparisons and of diagnosis training."
        )
    masks, content = None, {}
    if config.masks is not None:
        mask_table = load_imaplusplus(config.imaplusplus, table="masks", masks=config.masks)
        annot = mask_table[~mask_table["is_consensus"]]
        by_image = annot.groupby("image_id", sort=False)["mask_path"].apply(list)
        masks = [by_image[i] for i in frame["image_id"]]
        content["masks"] = lambda: [[Path(p) for p in paths] for paths in masks]
    images = None
    if config.images is not None:
        images = load_images(
            list(frame["image_path"]),
            config.image_size,
            cache_dir=Path(out_dir) / "cache",
            verbose=verbose,
        )
    else:
        notes.append(
            "No image folder was given (--images): the IAA regression and diagnosis steps "
            "need images and were skipped; the agreement and statistics steps ran on the "
            "release's tables."
        )
    return _StudyData(
        ids=frame["image_id"],
        diagnosis=frame["diagnosis"],
        masks=masks,
        pairs=pairs[~pairs["is_consensus_pair"]],
        images=images,
        table_iaa=frame["iaa"].to_numpy(dtype=float),
        source=f"IMA++ tables in {frame.attrs['root']}",
        content=content,
        notes=notes,
    )


def _synthetic_pairs(bunch):
    """Pairwise Dice table of the synthetic masks, in the release's layout."""
    from ..datasets import lesions_agreement

    return lesions_agreement(bunch, ["dice"]).pairs
