"""Reference outputs of the convnets-keras AlexNet, computed with Theano itself.

convnets-keras (heuritech) ran only on Keras 1 with Theano, and Keras 1/2 do not import on Python
3.11, so this re-creates its graph directly in Theano 1.0.5, op for op as Keras 1 emitted it:
``T.nnet.conv2d`` with the default ``filter_flip=True`` (true convolution), its
``crosschannelnormalization`` (k=2, alpha not divided by n), split/concatenate for conv2/4/5,
zero padding then 'valid' convolutions, floor-mode pooling (``ignore_border=True``), pool then LRN,
and a C,H,W ``Flatten``. Run once (about a minute), then commit the .npz it writes::

    python -m venv /work/theano-venv
    /work/theano-venv/bin/pip install theano==1.0.5 "numpy<1.24" scipy
    THEANO_FLAGS=blas.ldflags=,floatX=float64 /work/theano-venv/bin/python \
        tests/reference/theano_convnets_keras.py tests/fixtures/weights/convnets_keras_theano.npz
"""

import sys

import numpy as np
import theano
import theano.tensor as T
from convnets_keras_weights import IMAGE_SIZE, digest, generate_images, generate_weights
from theano.tensor.signal.pool import pool_2d

IMAGENET_RGB_MEAN = np.array([123.68, 116.779, 103.939])


def conv(x, weights, stride=1):
    kernel, bias = (theano.shared(w.astype(np.float64)) for w in weights)
    y = T.nnet.conv2d(x, kernel, border_mode="valid", subsample=(stride, stride))
    return T.nnet.relu(y + bias.dimshuffle("x", 0, "x", "x"))


def zero_pad(x, pad):
    # Keras 1 ZeroPadding2D: a zeros tensor with the input set in its middle.
    b, c, h, w = x.shape
    out = T.zeros((b, c, h + 2 * pad, w + 2 * pad), dtype=x.dtype)
    return T.set_subtensor(out[:, :, pad : h + pad, pad : w + pad], x)


def split_conv(x, weights, names):
    # convnets-keras splittensor: group i reads input channels [i*c/2, (i+1)*c/2).
    half = x.shape[1] // 2
    parts = [conv(x[:, i * half : (i + 1) * half], weights[n]) for i, n in enumerate(names)]
    return T.concatenate(parts, axis=1)


def lrn(x, alpha=1e-4, k=2, beta=0.75, n=5):
    # convnets-keras crosschannelnormalization: the paper's formula, alpha not divided by n.
    b, ch, r, c = x.shape
    half = n // 2
    square = T.sqr(x)
    padded = T.zeros((b, ch + 2 * half, r, c), dtype=x.dtype)
    padded = T.set_subtensor(padded[:, half : half + ch], square)
    scale = k
    for i in range(n):
        scale += alpha * padded[:, i : i + ch]
    return x / scale**beta


def max_pool(x):
    return pool_2d(x, ws=(3, 3), stride=(2, 2), ignore_border=True, mode="max")


def convnets_keras_alexnet(x, weights):
    x = lrn(max_pool(conv(x, weights["conv_1"], stride=4)))
    x = lrn(max_pool(split_conv(zero_pad(x, 2), weights, ("conv_2_1", "conv_2_2"))))
    x = conv(zero_pad(x, 1), weights["conv_3"])
    x = split_conv(zero_pad(x, 1), weights, ("conv_4_1", "conv_4_2"))
    x = max_pool(split_conv(zero_pad(x, 1), weights, ("conv_5_1", "conv_5_2")))
    x = x.flatten(2)
    for name, relu in (("dense_1", True), ("dense_2", True), ("dense_3", False)):
        kernel, bias = (theano.shared(w.astype(np.float64)) for w in weights[name])
        x = T.dot(x, kernel) + bias
        x = T.nnet.relu(x) if relu else x
    return x


def main(out_path):
    weights = generate_weights()
    images = generate_images()
    x = T.tensor4("x", dtype="float64")
    logits = convnets_keras_alexnet(x, weights)
    forward = theano.function([x], [logits, T.nnet.softmax(logits)])
    # convnets-keras input: RGB minus the ImageNet mean, 0-255 scale, channels first.
    batch = (images.astype(np.float64) - IMAGENET_RGB_MEAN).transpose(0, 3, 1, 2)
    fc8, prob = forward(batch)
    np.savez(
        out_path,
        fc8=fc8,
        prob=prob,
        digest=digest(weights, images),
        image_size=IMAGE_SIZE,
        theano_version=theano.__version__,
        numpy_version=np.__version__,
    )
    print(f"wrote {out_path}: fc8 scale {np.abs(fc8).max():.4g}, digest {digest(weights, images)}")


if __name__ == "__main__":
    main(sys.argv[1])
