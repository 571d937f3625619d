"""torchvision's AlexNet .pth: the conversion reproduces torch, with or without torch installed."""

import io
import os
import pickle
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from skalexnet.weights import (
    apply_weights,
    load_weights,
    read_torch_state_dict,
    read_torchvision_pth,
)

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).parent / "reference"))
from compare import fc8_logits, relative_error  # noqa: E402
from torchvision_alexnet import random_state_dict, torchvision_logits  # noqa: E402

TORCHVISION_PARAMS = 61_100_840


@pytest.fixture(scope="module")
def state_dict():
    return random_state_dict(num_classes=1000, seed=0)


@pytest.fixture(scope="module")
def pth_files(state_dict, tmp_path_factory):
    """The same full-size state dict in torch's zip layout and in its legacy layout."""
    folder = tmp_path_factory.mktemp("torchvision")
    files = {"zip": folder / "alexnet-owt-zip.pth", "legacy": folder / "alexnet-owt-legacy.pth"}
    torch.save(state_dict, files["zip"])
    torch.save(state_dict, files["legacy"], _use_new_zipfile_serialization=False)
    return files


@pytest.fixture(scope="module")
def images():
    rs = np.random.RandomState(1)
    return np.floor(rs.random_sample((2, 224, 224, 3)) * 256).astype(np.float32)


@pytest.fixture(scope="module")
def reference(state_dict, images):
    return torchvision_logits(state_dict, images)


@pytest.fixture(scope="module")
def model(fast_build):
    return fast_build("torchvision", 1000, 224, "torchvision")


def test_full_size_file_loads_with_torchvision_metadata(pth_files):
    ws = load_weights(pth_files["zip"])
    assert (ws.source, ws.arch, ws.preprocessing) == (
        "torchvision-pth",
        "torchvision",
        "torchvision",
    )
    assert (ws.n_classes, ws.image_size, ws.n_params) == (1000, 224, TORCHVISION_PARAMS)
    assert ws.layers["conv1"][0].shape == (11, 11, 3, 64)
    assert ws.layers["fc6"][0].shape == (9216, 4096)


def test_converted_weights_reproduce_torch_logits(pth_files, model, images, reference):
    apply_weights(model, load_weights(pth_files["zip"]))
    error = relative_error(fc8_logits(model, images), reference)
    print(f"torchvision: relative error {error:.2e} (logit scale {np.abs(reference).max():.3g})")
    assert error < 1e-5


def test_without_fc6_permutation_logits_disagree(pth_files, state_dict, model, images, reference):
    ws = load_weights(pth_files["zip"])
    ws.layers["fc6"][0] = state_dict["classifier.1.weight"].numpy().T  # T2 only, rows left C,H,W
    apply_weights(model, ws)
    error = relative_error(fc8_logits(model, images), reference)
    print(f"torchvision without the fc6 permutation: relative error {error:.2f}")
    assert error > 0.05


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_restricted_reader_is_bit_exact_to_torch(pth_files, state_dict, layout):
    arrays = read_torch_state_dict(pth_files[layout])
    assert list(arrays) == list(state_dict)
    for key, tensor in state_dict.items():
        assert arrays[key].dtype == np.float32
        np.testing.assert_array_equal(arrays[key], tensor.numpy(), err_msg=key)


def test_restricted_reader_handles_views_and_strides(tmp_path):
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    state = {"t": base.t(), "slice": base[1:, 2:4], "half": base.half(), "long": base.long()[0]}
    for layout, flag in (("zip", True), ("legacy", False)):
        path = tmp_path / f"{layout}.pth"
        torch.save(state, path, _use_new_zipfile_serialization=flag)
        arrays = read_torch_state_dict(path)
        for key, tensor in state.items():
            np.testing.assert_array_equal(arrays[key], tensor.numpy(), err_msg=f"{layout} {key}")
            assert arrays[key].dtype == tensor.numpy().dtype


@pytest.mark.parametrize("layout", ["legacy", "zip"])
def test_restricted_unpickler_reads_what_torch_reads(pth_files, layout):
    ws = read_torchvision_pth(pth_files[layout], use_torch=False)
    reference = read_torchvision_pth(pth_files["zip"], use_torch=True)
    for name, (kernel, bias) in reference.layers.items():
        np.testing.assert_array_equal(ws.layers[name][0], kernel, err_msg=name)
        np.testing.assert_array_equal(ws.layers[name][1], bias, err_msg=name)


class _RunsCode:
    """Pickles as a call to os.system, as a malicious .pth would."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _malicious_zip_pth(path, marker):
    payload = pickle.dumps({"features.0.weight": _RunsCode(marker)}, protocol=2)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/byteorder", "little")


def _malicious_legacy_pth(path, marker):
    buffer = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
        pickle.dump(header, buffer, protocol=2)
    pickle.dump({"features.0.weight": _RunsCode(marker)}, buffer, protocol=2)
    path.write_bytes(buffer.getvalue())


@pytest.mark.parametrize("write", [_malicious_zip_pth, _malicious_legacy_pth])
def test_restricted_reader_refuses_code_in_the_pickle(tmp_path, write):
    marker = tmp_path / "code-ran"
    path = tmp_path / "alexnet.pth"
    write(path, marker)
    with pytest.raises(ValueError, match=r"refusing to load (posix|os)\.system"):
        read_torchvision_pth(path, use_torch=False)
    assert not marker.exists()


@pytest.mark.parametrize("use_torch", [True, False])
def test_truncated_pth_fails_naming_the_file(pth_files, tmp_path, use_torch):
    for layout in ("zip", "legacy"):
        path = tmp_path / f"truncated-{layout}.pth"
        with open(pth_files[layout], "rb") as f:
            path.write_bytes(f.read(1 << 20))
        with pytest.raises(ValueError, match=re.escape(str(path))):
            read_torchvision_pth(path, use_torch=use_torch)


def test_state_dict_of_another_network_is_refused(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    with pytest.raises(ValueError, match=r"features\.0\.weight"):
        load_weights(path)
