"""Task 1: AlexNet trained from scratch with the study's settings
==============================================================

::

    python examples/train_from_scratch.py DATA_DIR     # the study: 80 epochs at 227x227
    python examples/train_from_scratch.py              # scikit-learn's digits at 67x67
"""

import matplotlib.pyplot as plt
from _common import arguments, digits, epochs, study_folders

from skalexnet import AlexNetClassifier
from skalexnet.plotting import plot_history

args = arguments(__doc__, epochs=80)
if args.data_dir:
    X_train, X_test, y_train, y_test = study_folders(args.data_dir)
    clf = AlexNetClassifier(epochs=args.epochs, random_state=0, verbose=1)
else:
    X_train, X_test, y_train, y_test = digits()
    clf = AlexNetClassifier(
        image_size=67,
        epochs=epochs(min(args.epochs, 6)),
        batch_size=32,
        learning_rate=0.02,
        augment=None,
        random_state=0,
        verbose=1,
    )
clf.fit(X_train, y_train, validation_data=(X_test, y_test))
print(f"test accuracy: {clf.score(X_test, y_test):.4f}")

plot_history(clf.history_, "AlexNet trained from scratch")
plt.show()
