"""resolve_weights: known names download once into the Keras cache, checked against their hash."""

import hashlib
import http.server
import threading

import pytest

from skalexnet.weights import KNOWN_WEIGHTS, resolve_weights

PAYLOAD = b"not really alexnet, but bytes with a known hash\n" * 100
FILE_NAME = "alexnet-owt-test.pth"


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    requests = 0

    def do_GET(self):
        type(self).requests += 1
        if self.path != f"/{FILE_NAME}":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _CountingHandler.requests = 0
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _CountingHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _register(monkeypatch, server, prefix):
    url = f"http://127.0.0.1:{server.server_address[1]}/{FILE_NAME}"
    monkeypatch.setitem(KNOWN_WEIGHTS, "imagenet", {"url": url, "sha256_prefix": prefix})


def test_download_then_cache_hit_without_network(server, tmp_path, monkeypatch):
    _register(monkeypatch, server, hashlib.sha256(PAYLOAD).hexdigest()[:8])
    first = resolve_weights("imagenet", cache_dir=tmp_path)
    assert first == tmp_path / "models" / FILE_NAME
    assert first.read_bytes() == PAYLOAD and _CountingHandler.requests == 1
    assert resolve_weights("imagenet", cache_dir=tmp_path) == first
    assert _CountingHandler.requests == 1


def test_cache_defaults_to_keras_home(server, tmp_path, monkeypatch):
    _register(monkeypatch, server, hashlib.sha256(PAYLOAD).hexdigest()[:8])
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert resolve_weights("imagenet") == tmp_path / "models" / FILE_NAME


def test_wrong_hash_fails_and_the_download_is_not_kept(server, tmp_path, monkeypatch):
    _register(monkeypatch, server, "deadbeef")
    with pytest.raises(ValueError, match="not the expected prefix deadbeef"):
        resolve_weights("imagenet", cache_dir=tmp_path)
    assert not (tmp_path / "models" / FILE_NAME).exists()


def test_cached_file_with_wrong_hash_is_reported_not_deleted(tmp_path, monkeypatch):
    monkeypatch.setitem(
        KNOWN_WEIGHTS, "imagenet", {"url": f"http://127.0.0.1:9/{FILE_NAME}", "sha256_prefix": "0"}
    )
    cached = tmp_path / "models" / FILE_NAME
    cached.parent.mkdir()
    cached.write_bytes(b"a user's own file")
    with pytest.raises(ValueError, match="delete it to download it again"):
        resolve_weights("imagenet", cache_dir=tmp_path)
    assert cached.exists()


def test_offline_error_says_which_file_to_place_where(server, tmp_path, monkeypatch):
    _register(monkeypatch, server, "0")
    port = server.server_address[1]
    server.shutdown()
    server.server_close()  # nothing listens on the port any more: as good as offline
    monkeypatch.setitem(KNOWN_WEIGHTS["imagenet"], "url", f"http://127.0.0.1:{port}/{FILE_NAME}")
    expected = tmp_path / "models" / FILE_NAME
    with pytest.raises(OSError, match=f"place it at {expected}"):
        resolve_weights("imagenet", cache_dir=tmp_path)


def test_imagenet_is_torchvision_file_with_its_published_hash_prefix():
    entry = KNOWN_WEIGHTS["imagenet"]
    assert entry["url"] == "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
    assert entry["sha256_prefix"] == "7be5be79"


def test_path_is_returned_and_unknown_name_refused(tmp_path):
    path = tmp_path / "mine.pth"
    path.write_bytes(b"x")
    assert resolve_weights(str(path)) == path
    with pytest.raises(FileNotFoundError, match="neither a file nor a known name"):
        resolve_weights("imagenet21k")
