"""Task 2: pretrained AlexNet fine-tuned layer by layer (fc8, then fc7, ... conv1)
===============================================================================

::

    python examples/fine_tune.py DATA_DIR --weights alexnet_weights.h5   # the study
    python examples/fine_tune.py            # digits: pretrained on 0-4, fine-tuned on 5-9

The figure marks where each round starts: one more layer trains from there on.
"""

import matplotlib.pyplot as plt
from _common import arguments, digits, epochs, pretrained_on_digits_0_to_4, study_folders

from skalexnet import AlexNetFineTuner
from skalexnet.experiments import finetune_schedule
from skalexnet.plotting import plot_history

args = arguments(__doc__, epochs=80)
if args.data_dir:
    X_train, X_test, y_train, y_test = study_folders(args.data_dir)
    tuner = AlexNetFineTuner(
        weights=args.weights, schedule=finetune_schedule(args.epochs), random_state=0, verbose=1
    )
else:  # digits 0-4 stand in for ImageNet; the new task is digits 5-9
    weights = pretrained_on_digits_0_to_4()
    X_train, X_test, y_train, y_test = digits(range(5, 10))
    tuner = AlexNetFineTuner(
        weights=weights,
        schedule=finetune_schedule(epochs(min(args.epochs, 16))),
        image_size=67,
        augment=None,
        random_state=0,
        verbose=2,
    )
tuner.fit(X_train, y_train, validation_data=(X_test, y_test))
for r in tuner.rounds_:
    print(f"round from {r['first_trainable']}: trained {r['trainable_layers']}")
print(f"test accuracy: {tuner.score(X_test, y_test):.4f}")

plot_history(tuner.history_, "AlexNet fine-tuned layer by layer")
plt.show()
