"""AlexNetFeatureExtractor builds only what its features need, and holds little beside them."""

import keras
import numpy as np
import pytest
from digits import DIGITS_IMAGE_SIZE, digit_images
from sklearn.datasets import load_sample_images

from skalexnet import AlexNetClassifier, AlexNetFeatureExtractor, build_alexnet
from skalexnet._data import resize_array
from skalexnet._predict import FORWARD_IMAGES, SlicedPredictor

SIZE = 67  # pool5 is 1x1 at 67 pixels: the smallest network, the fastest test
CONV_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")


@pytest.fixture(scope="module")
def photos():
    """The two sample photographs (china, flower) at SIZE x SIZE, uint8."""
    return np.stack([resize_array(image, SIZE) for image in load_sample_images().images])


def random_extractor(layer, **params):
    # float32, as build_alexnet's own network computes ('auto' takes bfloat16 on AMX CPUs).
    return AlexNetFeatureExtractor(
        weights=None, layer=layer, image_size=SIZE, precision="float32", **params
    )


def weighted_layers(model):
    return {layer.name for layer in model.layers if layer.weights}


def test_a_pool5_extractor_holds_no_fully_connected_layer(photos):
    extractor = random_extractor("pool5", random_state=0).fit(photos)
    assert weighted_layers(extractor.model_) == set(CONV_LAYERS)
    # The convolutions of the 'original' AlexNet, whatever the image size: no fc6, fc7, fc8.
    assert extractor.model_.count_params() == 2_334_080


def test_an_extractor_builds_up_to_its_deepest_layer(photos):
    extractor = random_extractor(["fc7", "pool2"], random_state=0).fit(photos)
    assert weighted_layers(extractor.model_) == {*CONV_LAYERS, "fc6", "fc7"}
    assert extractor.transform(photos).shape == (2, 4096 + 3 * 3 * 256)


@pytest.mark.parametrize("layer", ["pool5", "fc7"])
def test_random_weights_and_features_are_those_of_the_whole_network(photos, layer):
    # Cached features of random networks are keyed on the seed: building fewer layers must not
    # change the weights that one seed gives, nor the features.
    extractor = random_extractor(layer, random_state=0).fit(photos)
    whole = build_alexnet(image_size=SIZE, seed=extractor._seed_)
    for layer_of_both in extractor.model_.layers:
        if layer_of_both.weights:
            expected = whole.get_layer(layer_of_both.name).get_weights()
            for mine, theirs in zip(layer_of_both.get_weights(), expected, strict=True):
                np.testing.assert_array_equal(mine, theirs)
    truncated = keras.Model(whole.input, whole.get_layer(layer).output)
    # The same shape of batch as transform's padded slice: another would round otherwise.
    padded = np.zeros((FORWARD_IMAGES, *photos.shape[1:]), dtype=np.float32)
    padded[: len(photos)] = photos
    expected = np.asarray(truncated.predict_on_batch(padded))[: len(photos)]
    np.testing.assert_array_equal(extractor.transform(photos), expected.reshape(len(photos), -1))


def test_a_network_built_part_way_has_the_weights_of_the_whole_one():
    for arch in ("original", "caffe", "torchvision"):
        whole = build_alexnet(arch, n_classes=3, image_size=71, seed=7)
        part = build_alexnet(arch, n_classes=3, image_size=71, seed=7, up_to="conv3")
        assert part.layers[-1].name == "conv3" and "conv4" not in weighted_layers(part)
        for name in weighted_layers(part):
            for mine, theirs in zip(
                part.get_layer(name).get_weights(),
                whole.get_layer(name).get_weights(),
                strict=True,
            ):
                np.testing.assert_array_equal(mine, theirs)


def test_up_to_a_layer_the_variant_lacks_is_named():
    with pytest.raises(ValueError, match=r"no layer named \['norm1'\]"):
        build_alexnet("torchvision", image_size=63, up_to="norm1")


@pytest.fixture
def he_normal_draws(monkeypatch):
    """The shapes of every He-normal draw made while the fixture is active."""
    draws = []
    draw = keras.initializers.HeNormal.__call__

    def recording(self, shape, dtype=None):
        draws.append(tuple(shape))
        return draw(self, shape, dtype=dtype)

    monkeypatch.setattr(keras.initializers.HeNormal, "__call__", recording)
    return draws


def test_loaded_weights_are_never_drawn_first(digits_0_to_4_network, he_normal_draws):
    X = digit_images()[0][:8]
    pool5 = AlexNetFeatureExtractor(
        weights=str(digits_0_to_4_network), image_size=DIGITS_IMAGE_SIZE
    ).fit(X)
    assert he_normal_draws == []
    assert weighted_layers(pool5.model_) == set(CONV_LAYERS)
    # The same weights as the whole network's, fc8 included: pool5 columns are the same.
    both = AlexNetFeatureExtractor(
        weights=str(digits_0_to_4_network), image_size=DIGITS_IMAGE_SIZE, layer=["pool5", "fc8"]
    ).fit(X)
    assert he_normal_draws == []
    np.testing.assert_array_equal(both.transform(X)[:, :256], pool5.transform(X))


def test_from_estimator_copies_only_the_layers_it_needs(photos, he_normal_draws):
    X, y = digit_images()
    clf = AlexNetClassifier(
        image_size=SIZE, epochs=1, augment=None, precision="float32", random_state=0
    )
    clf.fit(X[:64], y[:64])
    he_normal_draws.clear()
    extractor = AlexNetFeatureExtractor.from_estimator(clf, layer="conv5", precision="float32")
    assert he_normal_draws == []
    assert weighted_layers(extractor.model_) == set(CONV_LAYERS)
    conv5 = keras.Model(clf.model_.input, clf.model_.get_layer("conv5").output)
    expected = conv5.predict(photos.astype(np.float32), verbose=0).reshape(len(photos), -1)
    np.testing.assert_allclose(extractor.transform(photos), expected, rtol=1e-5, atol=1e-6)


class _CountingBatches:
    """Stands for ImageBatches: batches of images numbered by their row, and how many were
    loaded and not yet handed on."""

    def __init__(self, n_batches, batch_size):
        self.n_batches, self.batch_size = n_batches, batch_size
        self.order = np.arange(n_batches * batch_size)
        self.loaded, self.most_ahead = 0, 0

    def __len__(self):
        return self.n_batches

    def __getitem__(self, index):
        self.loaded += 1
        self.most_ahead = max(self.most_ahead, self.loaded - index)
        start = index * self.batch_size
        return (np.arange(start, start + self.batch_size, dtype=np.float32)[:, None],)


class _RecordingModel:
    """Stands for the feature model: returns each image's row number twice, records sizes."""

    outputs = [keras.KerasTensor((None, 2))]

    def __init__(self):
        self.forward_sizes = []

    def predict_on_batch(self, x):
        self.forward_sizes.append(len(x))
        return np.concatenate([x, x], axis=1)


def test_batches_are_loaded_one_at_a_time_and_run_in_slices_of_forward_images():
    # Whatever the number of batches, transform holds the batch the network works on and the
    # activations of FORWARD_IMAGES images: the features are all that grows. Each batch of 80
    # runs as 32 + 32 + 16 padded to 32, and the padding's outputs are dropped.
    batches, model = _CountingBatches(5, 80), _RecordingModel()
    features = SlicedPredictor(model).predict(batches)
    assert batches.most_ahead == 1
    assert model.forward_sizes == [FORWARD_IMAGES] * 15
    np.testing.assert_array_equal(features, np.repeat(np.arange(400.0)[:, None], 2, axis=1))
