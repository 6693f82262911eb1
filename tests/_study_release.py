"""Shared by the study's tests: tiny settings, a result comparison, a fake IMA++ release.

Made from :func:`skiaa.make_lesions`, so that the images carry the signal the
study's networks learn from and the masks give real agreement values; written
in the release's layout (four CSV tables named as IMA++ names them, one PNG per
annotator mask, one image per lesion), so that ``run_study(data="imaplusplus")``
and ``skiaa reproduce --imaplusplus`` run without the real release.
Import as ``from _study_release import TINY, numbers, write_study_release``.
"""

import numpy as np
import pandas as pd
from PIL import Image

from skiaa.agreement import pairwise_agreement
from skiaa.datasets import IMAPLUSPLUS_TABLES, make_lesions

# The smallest run that still exercises every step (seconds on 2 cores).
TINY = dict(
    n_samples=48,
    image_size=32,
    models=("test_resnet",),
    cv=2,
    max_epochs=1,
    n_resamples=100,
    batch_size=16,
)


def numbers(results):
    """``results`` without run times, the steps read back and where fits ran, at any depth.

    What must be equal between an interrupted-then-resumed run and one that
    never was.
    """
    if isinstance(results, dict):
        drop = ("seconds", "reused_steps", "parallel")
        return {k: numbers(v) for k, v in results.items() if k not in drop}
    if isinstance(results, list):
        return [numbers(v) for v in results]
    return results


def write_study_release(root, n_images=24, *, image_size=32, random_state=0):
    """Write a fake release under ``root``; return the folders as a dict.

    Returns
    -------
    folders : dict
        ``tables``, ``masks`` and ``images`` folders.
    """
    bunch = make_lesions(n_images, image_size=image_size, random_state=random_state)
    tables, mask_dir, image_dir = root / "tables", root / "masks", root / "images"
    for folder in (tables, mask_dir, image_dir):
        folder.mkdir(parents=True, exist_ok=True)
    meta, masks, pairs, image_rows = [], [], [], []
    for i, image_id in enumerate(bunch.image_ids):
        image_id = f"ISIC_{i + 1:07d}"
        meta.append({"isic_id": image_id, "benign_malignant": bunch.diagnosis[i]})
        Image.fromarray(bunch.images[i]).save(image_dir / f"{image_id}.png")
        annotators, tools, skills = bunch.annotators[i], bunch.tools[i], bunch.skills[i]
        names = []
        for k, mask in enumerate(bunch.masks[i]):
            name = f"{image_id}_{annotators[k]}_{tools[k]}_{skills[k]}_obj{k}.png"
            Image.fromarray(np.asarray(mask, np.uint8) * 255).save(mask_dir / name)
            names.append(name)
            masks.append(
                {
                    "ISIC_id": image_id,
                    "img_filename": f"{image_id}.JPG",
                    "seg_filename": name,
                    "annotator": annotators[k],
                    "tool": tools[k],
                    "skill_level": skills[k],
                }
            )
        table = pairwise_agreement(bunch.masks[i], metrics=("dice",))
        for a, b, dice in zip(table["index1"], table["index2"], table["dice"]):
            pairs.append(
                {
                    "img_id": f"{image_id}.JPG",
                    "mask1": names[a],
                    "mask2": names[b],
                    "annotator1": annotators[a],
                    "annotator2": annotators[b],
                    "dice_score": dice,
                    "tool1": tools[a],
                    "skill_level1": skills[a],
                    "tool2": tools[b],
                    "skill_level2": skills[b],
                }
            )
        image_rows.append(
            {"img_id": f"{image_id}.JPG", "dice_score_mean": float(np.mean(table["dice"]))}
        )
    for key, rows in [
        ("metadata", meta),
        ("masks", masks),
        ("pairs", pairs),
        ("image_metrics", image_rows),
    ]:
        pd.DataFrame(rows).to_csv(tables / IMAPLUSPLUS_TABLES[key], index=False)
    return {"tables": tables, "masks": mask_dir, "images": image_dir}


def relabel(tables, image_ids, label):
    """Set ``benign_malignant`` of ``image_ids`` to ``label`` in the metadata table."""
    path = tables / IMAPLUSPLUS_TABLES["metadata"]
    meta = pd.read_csv(path)
    meta.loc[meta["isic_id"].isin(image_ids), "benign_malignant"] = label
    meta.to_csv(path, index=False)
