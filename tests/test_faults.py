"""Faults, round two (issue 29): downloads that never end, answers that are not HTTP, signals, palettes."""

import os
import signal
import subprocess
import time

import numpy as np
import pytest
from PIL import Image

from stylelab import cli
from stylelab.files import download, published

from .local_server import serve
from .processes import started


def _one_line_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    last = err.splitlines()[-1]                   # after the progress bar, where one is shown
    assert exit_.value.code == 2 and last.startswith("stylelab: error:"), err
    assert "Traceback" not in err
    return last


def _debris(folder):
    return [os.path.join(d, n) for d, dirs, files in os.walk(folder) for n in dirs + files
            if n.startswith((".stylelab-", ".download-"))]


def test_a_trickling_download_is_stopped_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(download, "GRACE_SECONDS", 1.0)      # the rule, on a shorter clock
    with serve({"trickle/vgg19-d01eb7cb.pth": bytes(4096),
                "trickle/wave.onnx": bytes(4096)}) as base:
        err = _one_line_exit_2(["weights", "download", "vgg19", "--url",
                                f"{base}/trickle/vgg19-d01eb7cb.pth"], capsys)
        assert "KiB/s a download must keep; stopped" in err
        item = published.PUBLISHED["onnx-mosaic"]
        monkeypatch.setitem(published.PUBLISHED, "onnx-mosaic", published.Published(
            **{**item.__dict__, "url": f"{base}/trickle/wave.onnx"}))
        err = _one_line_exit_2(["models", "download", "onnx-mosaic", "--quiet"], capsys)
        assert "KiB/s a download must keep; stopped" in err
    assert _debris(tmp_path / "cache") == []


@pytest.mark.parametrize("command", ["weights", "models"])
def test_an_answer_that_is_not_http_is_one_line(command, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with serve({"garbage/vgg19-d01eb7cb.pth": b"x"}) as base:
        url = f"{base}/garbage/vgg19-d01eb7cb.pth"
        argv = (["weights", "download", "vgg19", "--url", url] if command == "weights" else
                ["models", "download", "johnson-candy", "--url", url, "--quiet"])
        err = _one_line_exit_2(argv, capsys)
    assert "not valid HTTP" in err or "could not download" in err, err
    assert _debris(tmp_path / "cache") == []


def test_sigterm_during_a_download_cleans_up_as_ctrl_c_does(tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    with serve({"trickle/vgg19-d01eb7cb.pth": bytes(4096)}) as base:
        with started(["weights", "download", "vgg19", "--url",
                      f"{base}/trickle/vgg19-d01eb7cb.pth"], env=env,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            deadline = time.time() + 60
            while not _debris(tmp_path / "cache"):      # its temporary file exists: mid-download
                assert time.time() < deadline and proc.poll() is None
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and b"Traceback" not in err, err
    assert _debris(tmp_path / "cache") == []


def test_a_large_palette_image_is_shrunk_not_refused(tmp_path, capsys):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (700, 1000, 3), dtype=np.uint8)).convert(
        "P", palette=Image.ADAPTIVE).save(tmp_path / "p.png")
    assert cli.main(["layers", str(tmp_path / "p.png"), "--out", str(tmp_path / "o.png"),
                     "--size", "64"]) == 0
    assert "feature maps of 32x22" in capsys.readouterr().out


def test_a_refused_download_names_its_address_not_its_temporary_file(tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with serve({"instance_norm/candy.t7": b"T7 but not really" * 10}) as base:
        url = f"{base}/instance_norm/candy.t7"
        err = _one_line_exit_2(["models", "download", "johnson-candy", "--url", url, "--quiet"],
                               capsys)
    assert url in err and ".download-" not in err, err
    assert _debris(tmp_path / "cache") == []


def test_a_reader_error_without_a_name_gets_the_files(tmp_path):
    from stylelab.files.limits import untrusted_reader

    @untrusted_reader("test file")
    def read(path):
        return int(float("nan"))                 # Python's own message knows no file
    with pytest.raises(ValueError, match=r"x\.bin: not a well-formed test file \(cannot convert"):
        read(str(tmp_path / "x.bin"))


def test_ctrl_c_during_an_atomic_write_waits_for_it(tmp_path):
    from stylelab.files.atomic import write_atomically
    done = []

    def write(tmp):
        os.kill(os.getpid(), signal.SIGINT)      # arrives mid-write (h5py would swallow it)
        with open(tmp, "w") as f:
            f.write("complete")
        done.append(True)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(tmp_path / "out.txt", write)
    assert done and (tmp_path / "out.txt").read_text() == "complete"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_a_full_disk_is_noticed_before_the_write(tmp_path, monkeypatch):
    import shutil as shutil_module
    from collections import namedtuple
    from stylelab.files import atomic
    from stylelab.files.model_file import save_model
    from stylelab.nets.transform import TransformNet
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda p: usage(1 << 30, 1 << 30, 60_000))
    with pytest.raises(ValueError, match=r"cannot write .*m\.h5: it takes about .* MB free"):
        save_model(tmp_path / "m.h5", TransformNet("c3s1-4,d8,R8x1,u4,c3s1-3"), {"task": "style"})
    assert os.listdir(tmp_path) == []
    assert shutil_module.disk_usage is atomic.shutil.disk_usage
