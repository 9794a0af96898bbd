"""The built-in evaluation metrics and the ``inception_v3`` feature extractor.

Metrics (``metrics:`` blocks of an experiment, ``ganlab evaluate --metric``):

- ``fid``: Fréchet distance of feature Gaussians (Heusel et al. 2017);
- ``kid``: unbiased MMD² with the cubic kernel over subsets (Bińkowski et al. 2018);
- ``precision_recall``: improved precision and recall, k = 3 (Kynkäänniemi et al. 2019);
- ``classifier_score``: the Inception-Score formula with a classifier
  extractor, plus the confident share and the class histogram;
- ``intra_fid``: FID within each class of a class-conditional run, averaged
  (Miyato & Koyama 2018).

Feature extractors: ``inception_v3`` (Keras InceptionV3 pool features from
a local weights file). The metrics' maths is in :mod:`.maths`, the
components in :mod:`.scorers`, the extractor in :mod:`.inception`.

Registering imports neither TensorFlow nor Keras: the extractor imports
Keras when it is built.
"""

from __future__ import annotations

from typing import Any

from ganlab import hookimpl
from ganlab_builtins.metrics.inception import InceptionV3Features
from ganlab_builtins.metrics.intra_class import IntraClassFID
from ganlab_builtins.metrics.scorers import FID, KID, ClassifierScore, PrecisionRecall


@hookimpl
def register_metrics(register: Any) -> None:
    """``fid``, ``kid``, ``precision_recall``, ``classifier_score`` and ``intra_fid``."""
    register("fid", FID, description="Fréchet distance of feature Gaussians (lower is better)")
    register("kid", KID, description="Kernel Inception Distance, unbiased MMD² (lower is better)")
    register("precision_recall", PrecisionRecall,
             description="Improved precision (quality) and recall (coverage), k = 3")
    register("classifier_score", ClassifierScore,
             description="exp(E[KL(p(y|x) || p(y))]) with a classifier, confident share")
    register("intra_fid", IntraClassFID,
             description="Intra-class FID: mean FID per class of a conditional run (lower "
                         "is better)")


@hookimpl
def register_feature_extractors(register: Any) -> None:
    """``inception_v3``."""
    register("inception_v3", InceptionV3Features,
             description="Keras InceptionV3 2048-d pool features, 299x299 (local weights file)")
