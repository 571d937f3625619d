"""The peer of bench_training.py: the 'original' AlexNet written directly in PyTorch.

Same layers, sizes, order and constants as ``build_alexnet('original')``: conv1 96@11/4, pool 3/2,
then the paper's LRN (size 5, alpha 1e-4 not divided by the size, k=2, beta 0.75), conv2 256@5
in 2 groups, pool, LRN, conv3 384@3, conv4 384@3 in 2 groups, conv5 256@3 in 2 groups, pool,
fc6 4096, dropout, fc7 4096, dropout, fc8; the study's input scaling ``(x - mean) / 255`` included.
Trained with the same optimizer (SGD, lr 0.01, momentum 0.9, Nesterov) and cross-entropy.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_RGB_MEAN = (123.68, 116.779, 103.939)
LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}


def pool5_size(image_size):
    """Side of pool5's output: conv1 11/4 without padding, then three 3/2 floor poolings."""
    size = (image_size - 11) // 4 + 1
    for _ in range(3):
        size = (size - 3) // 2 + 1
    return size


class TorchAlexNet(nn.Module):
    """'original' AlexNet, channels first, as a plain PyTorch module."""

    def __init__(self, n_classes=2, image_size=227):
        super().__init__()
        self.pool5_size = pool5_size(image_size)
        self.register_buffer("mean", torch.tensor(IMAGENET_RGB_MEAN).view(1, 3, 1, 1))
        self.conv1 = nn.Conv2d(3, 96, 11, stride=4)
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
        self.fc6 = nn.Linear(256 * self.pool5_size**2, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, n_classes)
        self.dropout = nn.Dropout(0.5)

    @staticmethod
    def _lrn(x):
        # torch divides alpha by size; the paper's alpha is not, so pass alpha * size.
        return F.local_response_norm(
            x, LRN["size"], alpha=LRN["alpha"] * LRN["size"], beta=LRN["beta"], k=LRN["k"]
        )

    def forward(self, x):
        x = (x - self.mean) / 255.0
        x = self._lrn(F.max_pool2d(F.relu(self.conv1(x)), 3, 2))
        x = self._lrn(F.max_pool2d(F.relu(self.conv2(x)), 3, 2))
        x = F.relu(self.conv3(x))
        x = F.relu(self.conv4(x))
        x = F.max_pool2d(F.relu(self.conv5(x)), 3, 2)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc6(x)))
        x = self.dropout(F.relu(self.fc7(x)))
        return self.fc8(x)


def native_bfloat16(device: str) -> bool:
    """Whether ``device`` runs bfloat16 natively: a CUDA GPU, or a CPU with AMX or AVX-512 BF16
    (elsewhere autocast emulates it, many times slower: no serious user would run it)."""
    if device == "cuda":
        return True
    from skalexnet._cpu import cpu_flags

    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


def peer_variants(device: str) -> dict:
    """The plain PyTorch loops a serious PyTorch user would try on ``device``: name -> PeerSteps
    options. The best of them on the machine is the peer that skalexnet is measured against."""
    variants = {
        "float32 NCHW": {"precision": "float32", "channels_last": False},
        "float32 channels_last": {"precision": "float32", "channels_last": True},
    }
    if native_bfloat16(device):
        variants["bfloat16 autocast channels_last"] = {
            "precision": "bfloat16",
            "channels_last": True,
        }
        variants["bfloat16 autocast channels_last, fused SGD"] = {
            "precision": "bfloat16",
            "channels_last": True,
            "fused_sgd": True,
        }
    else:
        variants["float32 channels_last, fused SGD"] = {
            "precision": "float32",
            "channels_last": True,
            "fused_sgd": True,
        }
    return variants


class PeerSteps:
    """Training and inference steps of the PyTorch AlexNet, for interleaved timing.

    Same optimizer (SGD, lr 0.01, momentum 0.9, Nesterov; ``fused_sgd``: torch's fused kernel,
    one pass over each weight) and loss (cross-entropy on the logits) as the estimator. The model
    and its fixed batches live on ``device`` ('cpu' or 'cuda'), in the channels-last memory
    format when ``channels_last``; ``precision='bfloat16'`` runs under ``torch.autocast(device,
    bfloat16)``. Every step ends with a ``.item()``, so it returns when the device is done.
    """

    def __init__(
        self,
        precision="float32",
        n_classes=2,
        image_size=227,
        seed=0,
        device="cpu",
        channels_last=False,
        fused_sgd=False,
    ):
        torch.manual_seed(seed)
        self.device = torch.device(device)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = TorchAlexNet(n_classes, image_size).to(
            self.device, memory_format=self.memory_format
        )
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=0.01,
            momentum=0.9,
            nesterov=True,
            **({"fused": True} if fused_sgd else {}),
        )
        self.loss_fn = nn.CrossEntropyLoss()
        self.autocast = precision == "bfloat16"
        self.fused_sgd = fused_sgd
        self._inputs = {}

    def inputs(self, batch_size, image_size):
        """A fixed random batch on the device, pixels in [0, 255] (NCHW, maybe channels-last)."""
        key = (batch_size, image_size)
        if key not in self._inputs:
            generator = torch.Generator().manual_seed(batch_size)
            x = torch.rand(batch_size, 3, image_size, image_size, generator=generator) * 255.0
            y = torch.randint(0, 2, (batch_size,), generator=generator)
            x = x.to(self.device).contiguous(memory_format=self.memory_format)
            self._inputs[key] = (x, y.to(self.device))
        return self._inputs[key]

    def from_uint8(self, images: np.ndarray) -> torch.Tensor:
        """(n, h, w, 3) uint8 images as the float32 NCHW batch the model reads, on the device."""
        x = torch.from_numpy(images).to(self.device).permute(0, 3, 1, 2)  # a channels-last view
        return x.float().contiguous(memory_format=self.memory_format)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast)

    def step(self, x, y):
        """One SGD step on batch (x, y); returns the loss."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def train_step(self, batch_size, image_size):
        return self.step(*self.inputs(batch_size, image_size))

    def infer_step(self, batch_size, image_size):
        x, _ = self.inputs(batch_size, image_size)
        self.model.eval()
        with torch.inference_mode(), self._autocast():
            return self.model(x).float().sum().item()

    def train_epoch(self, images: np.ndarray, labels: np.ndarray, batch_size: int, seed=0):
        """What a PyTorch user writes to train on uint8 images in memory: shuffle, then per batch
        gather, convert to float32 NCHW and step. Yields after each step (for timing)."""
        order = np.random.default_rng(seed).permutation(len(images))
        targets = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            self.step(self.from_uint8(images[index]), targets[index].to(self.device))
            yield


def load_keras_weights(peer, keras_model):
    """Copy a Keras 'original' AlexNet's weights into the peer (to check they compute the same).

    Keras kernels are (kh, kw, in / groups, out), torch's (out, in / groups, kh, kw); fc6 reads
    pool5 flattened channels last in Keras and channels first in torch.
    """
    with torch.no_grad():
        for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
            kernel, bias = (np.asarray(w) for w in keras_model.get_layer(name).get_weights())
            if name.startswith("conv"):
                kernel = kernel.transpose(3, 2, 0, 1)
            elif name == "fc6":
                side = peer.pool5_size
                kernel = kernel.reshape(side, side, 256, -1).transpose(2, 0, 1, 3)
                kernel = kernel.reshape(side * side * 256, -1).T
            else:
                kernel = kernel.T
            layer = getattr(peer, name)
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel)))
            layer.bias.copy_(torch.from_numpy(bias))
