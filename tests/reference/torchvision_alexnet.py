"""torchvision's AlexNet as a plain torch module (torchvision itself is not needed).

Module tree and so state-dict keys copied from ``torchvision/models/alexnet.py``: ``features``
(conv, relu, pool ...) and ``classifier`` (dropout, linear, relu, ...), with an adaptive average
pool to 6x6 and ``torch.flatten(x, 1)`` between them (docs/weights.md).
"""

import torch
from torch import nn

TORCHVISION_RGB_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_RGB_STD = (0.229, 0.224, 0.225)


class TorchvisionAlexNet(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=0.5),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=0.5),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def random_state_dict(num_classes: int = 1000, seed: int = 0) -> dict:
    """He-uniform weights and non-zero biases: every layer matters in the output."""
    model = TorchvisionAlexNet(num_classes)
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        fan_in = value[0].numel() if key.endswith("weight") else 1
        limit = (6.0 / fan_in) ** 0.5 if key.endswith("weight") else 0.5
        state[key] = (torch.rand(value.shape, generator=generator) * 2 - 1) * limit
    return state


def torchvision_logits(state_dict: dict, images_rgb) -> "torch.Tensor":
    """Logits for RGB pixels in [0, 255] (N, H, W, 3), preprocessed as torchvision does."""
    model = TorchvisionAlexNet(state_dict["classifier.6.weight"].shape[0])
    model.load_state_dict(state_dict)
    model.eval()
    x = torch.as_tensor(images_rgb, dtype=torch.float32).permute(0, 3, 1, 2) / 255.0
    x = (x - torch.tensor(TORCHVISION_RGB_MEAN)[:, None, None]) / torch.tensor(TORCHVISION_RGB_STD)[
        :, None, None
    ]
    with torch.no_grad():
        return model(x).double().numpy()
