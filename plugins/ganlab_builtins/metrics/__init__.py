"""The built-in evaluation metrics and the ``inception_v3`` feature extractor.

Metrics (``metrics:`` blocks of an experiment, ``ganlab evaluate --metric``):

- ``fid``: Fréchet distance of feature Gaussians (Heusel et al. 2017);
- ``kid``: unbiased MMD² with the cubic kernel over subsets (Bińkowski et al. 2018);
- ``precision_recall``: improved precision and recall, k = 3 (Kynkäänniemi et al. 2019);
- ``classifier_score``: the Inception-Score formula with a classifier
  extractor, plus the confident share and the class histogram;
- ``intra_fid``: FID within each class of a class-conditional run, averaged
  (Miyato & Koyama 2018);
- ``class_agreement`` and ``cas``: for class-conditional runs, the share of
  samples classified as asked, and the Classification Accuracy Score
  (Ravuri & Vinyals 2019) (:mod:`.conditional`);
- ``inception_score``: the published Inception Score (Salimans et al. 2016):
  the classifier score of the ``inception_2015`` graph over 10 splits.

Feature extractors: ``inception_v3`` (Keras InceptionV3 pool features from
a local weights file) and ``inception_2015`` (the 2015 TensorFlow Inception
graph behind published FID and IS, from a local file). The metrics' maths is
in :mod:`.maths`, the components in :mod:`.scorers`, the extractors in
:mod:`.inception` and :mod:`.inception2015`.

Registering imports neither TensorFlow nor Keras: the extractor imports
Keras when it is built.
"""

from __future__ import annotations

from typing import Any

from ganlab import hookimpl
from ganlab_builtins.metrics.conditional import ClassAgreement, ClassificationAccuracyScore
from ganlab_builtins.metrics.inception import InceptionV3Features
from ganlab_builtins.metrics.inception2015 import Inception2015Features
from ganlab_builtins.metrics.intra_class import IntraClassFID
from ganlab_builtins.metrics.scorers import (
    FID,
    KID,
    ClassifierScore,
    InceptionScore,
    PrecisionRecall,
)


@hookimpl
def register_metrics(register: Any) -> None:
    """The built-in metrics (see the module docstring)."""
    register("fid", FID, description="Fréchet distance of feature Gaussians (lower is better)")
    register("kid", KID, description="Kernel Inception Distance, unbiased MMD² (lower is better)")
    register("precision_recall", PrecisionRecall,
             description="Improved precision (quality) and recall (coverage), k = 3")
    register("classifier_score", ClassifierScore,
             description="exp(E[KL(p(y|x) || p(y))]) with a classifier, confident share")
    register("intra_fid", IntraClassFID,
             description="Intra-class FID: mean FID per class of a conditional run (lower "
                         "is better)")
    register("class_agreement", ClassAgreement,
             description="Conditional runs: share of samples classified as the class their "
                         "latent asked for (higher is better)")
    register("cas", ClassificationAccuracyScore,
             description="Classification Accuracy Score: a classifier trained on generated "
                         "images, tested on real held-out ones (higher is better)")
    register("inception_score", InceptionScore,
             description="Inception Score as published: inception_2015 graph, 50,000 samples, "
                         "10 splits (higher is better)")


@hookimpl
def register_feature_extractors(register: Any) -> None:
    """``inception_v3`` and ``inception_2015``."""
    register("inception_v3", InceptionV3Features,
             description="Keras InceptionV3 2048-d pool features, 299x299 (local weights file)")
    register("inception_2015", Inception2015Features,
             description="The 2015 TF Inception graph of published FID/IS: pool_3 2048-d, "
                         "1,008-class softmax (local classify_image_graph_def.pb)")
