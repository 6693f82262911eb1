"""The whole study of Abhishek et al. (2025) as resumable steps.

:func:`run_study` chains skiaa's building blocks the way the paper does
(arXiv:2508.09381, sections 2-5):

1. **data**: synthetic lesions (:func:`skiaa.datasets.make_lesions`) or the IMA++
   release (:func:`skiaa.datasets.load_imaplusplus`);
2. **agreement**: per-image agreement of the annotators' masks
   (:class:`skiaa.AgreementTransformer`; the IAA is the mean pairwise Dice);
3. **statistics**: benign vs malignant IAA (:func:`skiaa.stats.compare_groups`),
   with an ECDF plot (finding 1: malignant lesions get lower agreement);
4. **iaa_regression**: cross-validated :class:`skiaa.IAARegressor` per
   architecture, MAE and Pearson r against the median-IAA baseline (finding 2:
   agreement can be predicted from the image);
5. **diagnosis**: cross-validated balanced accuracy of
   :class:`skiaa.MultiTaskDiagnosisClassifier` trained on the diagnosis alone
   (``alpha=1``) and with IAA as an auxiliary target (``alpha < 1``), the
   paired per-fold difference and its spread (finding 3);
6. **external** (only with ``StudyConfig(external=...)``): the IMA++
   diagnosis-only and multi-task models fine-tuned on external datasets as the
   authors did, and the paper's table of balanced accuracy per dataset x
   architecture (:meth:`StudyConfig.paper`, :func:`describe_study`);
7. **report**: ``report.md``, ``results.json`` and PNG figures.

Each step stores its result under ``OUT/steps/`` together with a key of the
settings it depends on. Running again with the same output folder reads
finished steps back instead of recomputing them (and the training steps resume
per architecture); a step whose settings changed, or every step with
``force=True``, is computed anew.
"""

from ..utils import OutputFolderError
from ._config import EXTERNAL_DATASETS, PAPER_ALPHAS, STEPS, StudyConfig
from ._paper import FINETUNE_PASSES, describe_study, estimate_gpu_time
from ._run import run_study
from ._store import StepCacheWarning

__all__ = [
    "EXTERNAL_DATASETS",
    "FINETUNE_PASSES",
    "OutputFolderError",
    "PAPER_ALPHAS",
    "STEPS",
    "StepCacheWarning",
    "StudyConfig",
    "describe_study",
    "estimate_gpu_time",
    "run_study",
]
