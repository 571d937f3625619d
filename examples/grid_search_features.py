"""GridSearchCV over an SVM on AlexNet features, each fold's features computed once
================================================================================

::

    python examples/grid_search_features.py DATA_DIR --weights alexnet_weights.h5
    python examples/grid_search_features.py            # digits, random-weight AlexNet

The extractor's ``memory`` caches its features on disk, keyed on its parameters, the weights and
the data, so the 4 candidates x 3 folds below run the network 6 times (each fold's training and
test part once) instead of 24.
"""

import tempfile

from _common import arguments, digits, study_folders
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from skalexnet import AlexNetFeatureExtractor

args = arguments(__doc__, epochs=0)
if args.data_dir:
    X_train, X_test, y_train, y_test = study_folders(args.data_dir)
    extractor = AlexNetFeatureExtractor(weights=args.weights, layer=["pool5", "fc7"])
else:
    X_train, X_test, y_train, y_test = digits()
    extractor = AlexNetFeatureExtractor(weights=None, layer="pool5", image_size=67)

extractor.set_params(memory=tempfile.mkdtemp(prefix="skalexnet-features-"))
pipe = make_pipeline(extractor, StandardScaler(), SVC())
search = GridSearchCV(pipe, {"svc__C": [0.1, 1, 10, 100]}, cv=3).fit(X_train, y_train)
print(f"best C: {search.best_params_['svc__C']}, cross-validated accuracy {search.best_score_:.4f}")
print(f"test accuracy: {search.score(X_test, y_test):.4f}")
