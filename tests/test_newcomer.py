"""What a newcomer met (issue 28): sizes, transparency, flags -- each answered, and held here."""

import numpy as np
import pytest
from PIL import Image

from stylelab import cli
from stylelab.files.images import load_image


def _photo(path, shape, alpha=None):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    if alpha is not None:
        pixels = np.dstack([pixels, np.full(shape, alpha, np.uint8)])
    Image.fromarray(pixels).save(path)
    return path


def test_a_small_photo_is_enlarged_only_when_asked(tmp_path, capsys):
    small = _photo(tmp_path / "small.png", (40, 30))
    assert load_image(small, size=512, enlarge=False).shape == (40, 30, 3)
    assert load_image(small, size=512).shape == (512, 384, 3)
    assert load_image(small, size=20, enlarge=False).shape == (20, 15, 3)   # shrinking is always done
    assert cli.main(["layers", str(small), "--out", str(tmp_path / "a.png")]) == 0
    assert "feature maps of 15x20" in capsys.readouterr().out             # (W x H), not 256x192
    assert cli.main(["layers", str(small), "--out", str(tmp_path / "b.png"), "--size", "80"]) == 0
    assert "feature maps of 30x40" in capsys.readouterr().out


def test_transparency_is_said(tmp_path):
    with pytest.warns(UserWarning, match="has transparent pixels: laid over white"):
        img = load_image(_photo(tmp_path / "a.png", (8, 8), alpha=0))
    assert np.allclose(np.asarray(img), 1.0)                               # white, as viewers show it


@pytest.mark.parametrize("argv, message", [
    (["stylize", "--mod", "m.h5", "a.png", "--out", "b.png"],
     "--mod is not an option of stylelab stylize: did you mean --model?"),
    (["gatys", "--contnet", "a.png", "--style", "b.png", "--out", "c.png"],
     "--contnet is not an option of stylelab gatys: did you mean --content?"),
    (["weights", "convert", "a.pth", "b.h5", "--conventoin", "caffe"],
     "did you mean --convention?"),
])
def test_a_flag_that_is_not_an_option_is_named_in_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_stylize_out_without_extension_for_one_photo_is_asked_about(tmp_path, capsys):
    from stylelab.files.model_file import save_model
    from stylelab.nets.transform import TransformNet
    save_model(tmp_path / "m.h5", TransformNet("c3s1-4,d8,R8x1,u4,c3s1-3"), {"task": "style"})
    photo = _photo(tmp_path / "p.png", (24, 28))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["stylize", "--model", str(tmp_path / "m.h5"), str(photo), "--out",
                  str(tmp_path / "noext")])
    assert exit_.value.code == 2 and "has no extension" in capsys.readouterr().err
    assert not (tmp_path / "noext").exists()
    assert cli.main(["stylize", "--model", str(tmp_path / "m.h5"), str(photo), "--out",
                     str(tmp_path / "into") + "/"]) == 0
    assert (tmp_path / "into" / "p.png").is_file()


def test_a_read_only_cache_is_named_in_one_line(tmp_path, monkeypatch, capsys):
    from stylelab.files import download

    def read_only(path, exist_ok=False):
        raise OSError(30, "Read-only file system", path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(download.os, "makedirs", read_only)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["weights", "download", "vgg19"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "[Errno" not in err
    assert "cannot write the cache folder" in err and "read-only file system" in err


def test_two_runs_cannot_share_a_checkpoint(tmp_path):
    import subprocess
    import sys
    from stylelab.files.atomic import claimed
    ckpt = tmp_path / "runs" / "m" / "checkpoint.h5"
    with claimed(str(ckpt)):
        # another process holding it: a child that sleeps, its pid in the claim
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            lock = ckpt.parent / ".checkpoint.h5.lock"
            lock.write_text(str(child.pid))
            with pytest.raises(ValueError, match=f"being written by another run \\(process "
                                                 f"{child.pid}\\)"):
                with claimed(str(ckpt)):
                    pass
        finally:
            child.kill()
            child.wait()
        # its process gone, the claim is stale and taken over
        with claimed(str(ckpt)):
            assert lock.read_text() == str(__import__("os").getpid())
    assert not (tmp_path / "runs").exists()       # nothing left where nothing was written
