"""Task 3: pool5 features of pretrained AlexNet, classified by an MLP of 256 units and an SVM
==========================================================================================

::

    python examples/feature_extraction.py DATA_DIR     # with weights="imagenet"
    python examples/feature_extraction.py              # digits 5-9, network trained on 0-4
"""

from _common import arguments, digits, pretrained_on_digits_0_to_4, study_folders
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from skalexnet import AlexNetFeatureExtractor

args = arguments(__doc__, epochs=0)
if args.data_dir:
    X_train, X_test, y_train, y_test = study_folders(args.data_dir)
    extractor = AlexNetFeatureExtractor(weights=args.weights, layer="pool5", verbose=1)
else:
    X_train, X_test, y_train, y_test = digits(range(5, 10))
    extractor = AlexNetFeatureExtractor(
        weights=pretrained_on_digits_0_to_4(), layer="pool5", image_size=67
    )

features_train = extractor.fit_transform(X_train)  # computed once, shared by both classifiers
features_test = extractor.transform(X_test)
for classifier in (MLPClassifier(hidden_layer_sizes=(256,), max_iter=300, random_state=0), SVC()):
    model = make_pipeline(StandardScaler(), classifier).fit(features_train, y_train)
    name = type(classifier).__name__
    print(f"pool5 + {name}: test accuracy {model.score(features_test, y_test):.4f}")
