"""Folder runs (:mod:`stylelab.batch`): the manifest, resuming, seeded pairs, and real Dask clusters.

The cluster tests start real processes -- a ``LocalCluster`` of two worker
processes through ``--workers 2``, or ``dask scheduler`` and two ``dask
worker`` commands for ``--scheduler`` -- never mocks, and each test kills
every process it started (the whole process group) in a ``finally``.
"""

import contextlib
import hashlib
import importlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from stylelab import cli
from stylelab.batch import assign_styles, check_batch_outputs, photo_jobs, read_manifest
from stylelab.batch.manifest import ManifestWriter, done_index, file_stat, is_done
from stylelab.files.model_file import save_model
from stylelab.nets.transform import TransformNet

from . import vgg_files
from .test_released import random_decoder_convs, write_decoder_t7


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "stylelab", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def pictures(folder):
    """{relative path: bytes} of every picture under `folder` (not the manifest)."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            if name.endswith(".png"):
                full = os.path.join(root, name)
                found[os.path.relpath(full, folder)] = open(full, "rb").read()
    return found


def leftovers(folder):
    """Temporary files (``.stylelab-PID-...``) anywhere under `folder`."""
    return [os.path.join(r, n) for r, _, files in os.walk(folder) for n in files
            if n.startswith(".stylelab-")]


@contextlib.contextmanager
def group(args, **popen):
    """A process in a session of its own; it and everything it started are killed on the way out."""
    proc = subprocess.Popen([str(a) for a in args], start_new_session=True, **popen)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_for(ready, seconds=120, proc=None):
    deadline = time.time() + seconds
    while not ready():
        assert proc is None or proc.poll() is None, "the process ended first"
        assert time.time() < deadline, "not ready in time"
        time.sleep(0.05)


def manifest_lines(out):
    try:
        return open(os.path.join(out, "manifest.jsonl")).read().count("\n")
    except FileNotFoundError:
        return 0


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Photos in class folders (as ImageNet's), a style network, paintings, an AdaIN release."""
    d = tmp_path_factory.mktemp("batch")
    rng = np.random.default_rng(26)
    for k in range(24):
        folder = d / "photos" / f"n0{k % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        size = (96 + 4 * k, 120 - 2 * k, 3)
        Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8)).save(
            folder / f"p{k:02d}.{'jpg' if k % 2 else 'png'}")
    save_model(d / "net.h5", TransformNet("c9s1-16,d32,d64,R64x4,u32,u16,c9s1-3", seed=1),
               {"task": "style"})
    (d / "paintings").mkdir()
    for k in range(5):
        Image.fromarray(rng.integers(0, 256, (30 + k, 34, 3), dtype=np.uint8)).save(
            d / "paintings" / f"art{k}.png")
    weights = vgg_files.random_torch_weights("vgg19", seed=9)
    colour = vgg_files.random_colour_map(3)
    (d / "adain").mkdir()
    vgg_files.write_normalised_t7(d / "adain" / "vgg_normalised.t7", weights,
                                  (colour[0] / 100, colour[1] / 100), upto="relu4_1")
    write_decoder_t7(d / "adain" / "decoder.t7", 4, random_decoder_convs(4, seed=4))
    return d


@pytest.fixture(scope="module")
def serial(data, tmp_path_factory):
    """The serial run every parallel one is compared with."""
    out = tmp_path_factory.mktemp("serial") / "out"
    r = run("stylize", "--model", data / "net.h5", data / "photos", "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    return out


def stylize(data, out, *extra):
    return ["stylize", "--model", data / "net.h5", data / "photos", "--out", out, "--quiet",
            *extra]


# --- the pieces -------------------------------------------------------------------------------


def test_jobs_keep_the_sub_folders_and_refuse_clashes(tmp_path):
    (tmp_path / "in" / "cats").mkdir(parents=True)
    for name in ("cats/a.jpg", "b.png", "notes.txt"):
        (tmp_path / "in" / name).write_bytes(b"")
    jobs = photo_jobs([str(tmp_path / "in")], "out")
    assert [(j["rel"], j["out"]) for j in jobs] == [
        ("b.png", os.path.join("out", "b.png")), ("cats/a.jpg", os.path.join("out", "cats/a.png"))]
    (tmp_path / "in" / "b.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="would both be written to"):
        photo_jobs([str(tmp_path / "in")], "out")


def test_a_photos_painting_depends_on_the_seed_and_its_path_alone():
    paintings = [f"art{k}.png" for k in range(7)]
    jobs = [{"rel": f"n{k % 4}/p{k}.jpg"} for k in range(40)]
    assign_styles(jobs, paintings, seed=3, alpha=(0.25, 0.75))
    alone = [dict(j) for j in reversed(jobs[::3])]           # another order, another subset
    for j in alone:
        del j["style"], j["alpha"]
    assign_styles(alone, paintings, seed=3, alpha=(0.25, 0.75))
    by_rel = {j["rel"]: j for j in jobs}
    assert all(j["style"] == by_rel[j["rel"]]["style"] and j["alpha"] == by_rel[j["rel"]]["alpha"]
               for j in alone)
    assert len({j["style"][0] for j in jobs}) == 7                   # all paintings drawn
    assert all(0.25 <= j["alpha"] < 0.75 for j in jobs)
    other = [{"rel": j["rel"]} for j in jobs]
    assign_styles(other, paintings, seed=4)
    assert [j["style"] for j in other] != [j["style"] for j in jobs]  # the seed matters


def test_the_manifest_survives_a_line_cut_short(tmp_path):
    path = tmp_path / "manifest.jsonl"
    with ManifestWriter(path) as w:
        w.write({"photo": "a.jpg", "status": "done"})
    with open(path, "ab") as f:
        f.write(b'{"photo": "b.jpg", "sta')              # a run killed mid-line
    assert list(read_manifest(path)) == ["a.jpg"]
    with ManifestWriter(path) as w:
        w.write({"photo": "c.jpg", "status": "failed"})
    assert list(read_manifest(path)) == ["a.jpg", "c.jpg"]
    assert open(path).read().splitlines()[-1] == '{"photo": "c.jpg", "status": "failed"}'


def test_done_means_the_same_settings_and_both_files_unchanged(tmp_path):
    photo, out = tmp_path / "p.jpg", tmp_path / "out"
    photo.write_bytes(b"photo")
    out.mkdir()
    (out / "p.png").write_bytes(b"picture")
    job = {"photo": str(photo), "rel": "p.jpg", "out": str(out / "p.png")}
    settings = {"method": "adain", "size": None}
    manifest = out / "manifest.jsonl"
    def record(**changes):
        with ManifestWriter(manifest) as w:
            w.write({"photo": "p.jpg", "status": "done", "out": "p.png", "style": ["a.png"],
                     "alpha": 0.5, "photo_stat": file_stat(photo),
                     "out_stat": file_stat(out / "p.png"), **settings, **changes})

    record()
    entry = done_index(manifest, settings)["p.jpg"]
    assert is_done(entry, job, ["a.png"], 0.5, str(out))
    assert not is_done(entry, job, ["b.png"], 0.5, str(out))           # another painting
    assert not is_done(entry, job, ["a.png"], 0.75, str(out))          # another alpha
    assert done_index(manifest, {**settings, "size": 256}) == {}         # other settings
    record(status="failed")                                             # a later failure
    assert done_index(manifest, settings) == {}
    os.utime(photo, ns=(1, 1))                     # the photo changed since
    assert not is_done(entry, job, ["a.png"], 0.5, str(out))
    record()                                       # painted again
    entry = done_index(manifest, settings)["p.jpg"]
    assert is_done(entry, job, ["a.png"], 0.5, str(out))
    (out / "p.png").unlink()                        # the picture is gone
    assert not is_done(entry, job, ["a.png"], 0.5, str(out))


def test_an_output_folder_must_not_overlap_what_is_read(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(b"")
    jobs = photo_jobs([str(tmp_path / "in")], str(tmp_path / "in" / "styled"))
    with pytest.raises(ValueError, match="overlaps the input folder"):
        check_batch_outputs(str(tmp_path / "in" / "styled"), jobs, [str(tmp_path / "in")])
    jobs = photo_jobs([str(tmp_path / "in" / "a.png")], str(tmp_path / "in"))
    with pytest.raises(ValueError, match="it is the input"):
        check_batch_outputs(str(tmp_path / "in"), jobs, [str(tmp_path / "in" / "a.png")])


# --- serial folder runs -----------------------------------------------------------------------


def test_a_folder_run_records_every_picture_and_a_rerun_skips_them(data, serial, tmp_path):
    made = pictures(serial)
    assert len(made) == 24 and all(rel.startswith(("n00/", "n01/", "n02/")) for rel in made)
    records = read_manifest(serial / "manifest.jsonl")
    assert len(records) == 24
    rec = records["n01/p01.jpg"]
    assert rec["status"] == "done" and rec["out"] == "n01/p01.png"
    assert rec["photo_sha256"] == sha256(data / "photos" / "n01" / "p01.jpg")
    assert rec["out_sha256"] == sha256(serial / "n01" / "p01.png")
    assert rec["models"] == {"network": sha256(data / "net.h5")}
    assert rec["method"] == "stylize" and rec["size"] is None and rec["seconds"] > 0
    with Image.open(serial / "n01" / "p01.png") as im:           # the photo's own size
        assert im.size == (118, 100)
    # A rerun into a copy of the folder paints nothing; a changed photo is painted again.
    out = tmp_path / "out"
    subprocess.run(["cp", "-a", str(serial), str(out)], check=True)
    photos = tmp_path / "photos"
    subprocess.run(["cp", "-a", str(data / "photos"), str(photos)], check=True)
    r = run("stylize", "--model", data / "net.h5", photos, "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    assert "0 picture(s) painted" in r.stdout and "24 done before" in r.stdout, r.stdout
    before = {rel: os.stat(out / rel).st_mtime_ns for rel in made}
    os.utime(photos / "n02" / "p02.png", ns=(10**18, 10**18))
    r = run("stylize", "--model", data / "net.h5", photos, "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    assert "1 picture(s) painted by" in r.stdout and "23 done before" in r.stdout, r.stdout
    changed = [rel for rel in made if os.stat(out / rel).st_mtime_ns != before[rel]]
    assert changed == ["n02/p02.png"]
    assert pictures(out) == made


def test_a_photo_that_fails_is_recorded_and_the_others_go_on(data, tmp_path):
    photos = tmp_path / "photos"
    subprocess.run(["cp", "-a", str(data / "photos" / "n00"), str(photos)], check=True)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    r = run("stylize", "--model", data / "net.h5", photos, "--out", tmp_path / "o", "--quiet")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "1 of 9 photos failed" in r.stderr and "broken.jpg" in r.stderr
    rec = read_manifest(tmp_path / "o" / "manifest.jsonl")["broken.jpg"]
    assert rec["status"] == "failed" and "cannot identify image file" in rec["reason"]
    assert len(pictures(tmp_path / "o")) == 8


@pytest.mark.parametrize("argv, message", [
    (["--workers", 2], "--workers and --scheduler share out the photos of a folder"),
    (["--seed", 1], "there is nothing to draw"),
])
def test_folder_options_that_do_not_apply_are_refused(data, tmp_path, argv, message):
    r = run("adain", "--models", data / "adain", "--content", data / "photos" / "n00" / "p00.png",
            "--style", data / "paintings" / "art0.png", "--out", tmp_path / "o.png", *argv)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    r = run("adain", "--models", data / "adain", "--content", data / "photos",
            "--style", data / "paintings", "--out", tmp_path / "o")
    assert r.returncode == 2 and "give --seed S" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


def test_without_dask_the_workers_option_says_how_to_install_it(data, tmp_path, monkeypatch,
                                                                 capsys):
    importlib.import_module("stylelab.batch.cluster")         # as Dask made it ...
    monkeypatch.delitem(sys.modules, "stylelab.batch.cluster")   # ... put back after the test
    monkeypatch.setitem(sys.modules, "distributed", None)       # import distributed fails
    with pytest.raises(SystemExit) as exc:
        cli.main([str(a) for a in stylize(data, tmp_path / "o", "--workers", 2)])
    assert exc.value.code == 2
    assert "pip install 'stylelab[dask]'" in capsys.readouterr().err


# --- on real Dask clusters --------------------------------------------------------------------


def test_two_local_workers_paint_the_same_bytes_as_the_serial_run(data, serial, tmp_path):
    r = run(*stylize(data, tmp_path / "par", "--workers", 2))
    assert r.returncode == 0, r.stderr
    assert pictures(tmp_path / "par") == pictures(serial)
    records = read_manifest(tmp_path / "par" / "manifest.jsonl")
    assert len({rec["worker"] for rec in records.values()}) == 2     # both did some
    assert not leftovers(tmp_path / "par")


def test_adain_draws_each_photos_painting_from_the_seed_whatever_the_workers(data, tmp_path):
    args = ["adain", "--models", data / "adain", "--content", data / "photos", "--style",
            data / "paintings", "--seed", 7, "--alpha", "0.5:1", "--size", 64, "--quiet"]
    one = run(*args, "--out", tmp_path / "one")
    assert one.returncode == 0, one.stderr
    two = run(*args, "--out", tmp_path / "two", "--workers", 2)
    assert two.returncode == 0, two.stderr
    assert pictures(tmp_path / "one") == pictures(tmp_path / "two")
    a = read_manifest(tmp_path / "one" / "manifest.jsonl")
    b = read_manifest(tmp_path / "two" / "manifest.jsonl")
    pairs = {rel: (rec["style"], rec["alpha"]) for rel, rec in a.items()}
    assert pairs == {rel: (rec["style"], rec["alpha"]) for rel, rec in b.items()}
    assert len({s[0][0] for s in pairs.values()}) > 1 and a["n00/p00.png"]["seed"] == 7
    rec = a["n00/p00.png"]
    assert rec["style_sha256"] == [sha256(rec["style"][0])]
    assert rec["models"]["decoder"] == sha256(data / "adain" / "decoder.t7")


def test_an_outside_cluster_with_a_worker_killed_mid_run_loses_nothing(data, serial, tmp_path):
    """``dask scheduler`` and two ``dask worker``s started here; one SIGKILLed while painting."""
    scheduler_file = tmp_path / "scheduler.json"
    out = tmp_path / "out"
    dask = [sys.executable, "-m", "dask"]
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with contextlib.ExitStack() as stack:
        stack.enter_context(group([*dask, "scheduler", "--scheduler-file", scheduler_file,
                                   "--port", 0, "--no-dashboard"], **quiet))
        wait_for(scheduler_file.exists)
        workers = [stack.enter_context(group(
            [*dask, "worker", "--scheduler-file", scheduler_file, "--nthreads", 1, "--no-nanny",
             "--no-dashboard"], **quiet)) for _ in range(2)]
        address = json.loads(scheduler_file.read_text())["address"]
        proc = stack.enter_context(group(
            [sys.executable, "-m", "stylelab", *stylize(data, out, "--scheduler", address)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        wait_for(lambda: manifest_lines(out) >= 2, proc=proc)
        assert manifest_lines(out) < 24, "the run ended before a worker could be killed"
        os.kill(workers[0].pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
    assert pictures(out) == pictures(serial)
    assert not leftovers(out)
    records = read_manifest(out / "manifest.jsonl")
    assert all(rec["status"] == "done" for rec in records.values()) and len(records) == 24


def test_ctrl_c_then_the_same_command_finishes_with_the_same_bytes(data, serial, tmp_path):
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "stylelab", *stylize(data, out, "--workers", 2)]
    with group(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        wait_for(lambda: manifest_lines(out) >= 3, proc=proc)
        os.killpg(proc.pid, signal.SIGINT)              # Ctrl-C reaches the whole group
        stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    said = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert len(said) == 1 and "the same command paints the rest" in said[0], stderr  # no tracebacks
    first = read_manifest(out / "manifest.jsonl")
    assert 3 <= len(first) < 24, "the run ended before it could be interrupted"
    kept = {rec["out"]: os.stat(out / rec["out"]) for rec in first.values()}
    assert all(rec["status"] == "done" for rec in first.values())
    r = run(*stylize(data, out, "--workers", 2))
    assert r.returncode == 0, r.stderr
    assert f"{len(first)} done before" in r.stdout, r.stdout
    for rel, st in kept.items():                       # untouched: the same file, not rewritten
        now = os.stat(out / rel)
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), rel
    assert pictures(out) == pictures(serial)
    assert not leftovers(out)


def test_a_manifest_that_is_a_link_is_refused_and_its_target_untouched(data, tmp_path):
    photo = tmp_path / "precious.png"
    photo.write_bytes(b"not to be appended to")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "manifest.jsonl").symlink_to(photo)
    r = run(*stylize(data, tmp_path / "out"))
    assert r.returncode == 2 and "is not a plain file" in r.stderr, r.stderr
    assert photo.read_bytes() == b"not to be appended to"
    assert pictures(tmp_path / "out") == {}


class CountingPainter:
    """A painter that notes each load in a file (one line per load, with its process) and
    ends its process on the photo named ``poison.png``, as a photo that runs out of memory."""

    def __init__(self, log):
        self.log, self.loaded = str(log), False

    def settings(self):
        return {"method": "counting"}

    def load(self):
        if not self.loaded:
            with open(self.log, "a") as f:
                f.write(f"{os.getpid()}\n")
            self.loaded = True

    def paint(self, job):
        if job["rel"].endswith("poison.png"):
            os._exit(1)
        return np.full((4, 4, 3), 0.5)


def test_each_worker_loads_once_and_a_photo_that_kills_every_worker_is_recorded(tmp_path):
    from stylelab.batch import run_batch
    (tmp_path / "in").mkdir()
    for k in range(12):
        (tmp_path / "in" / f"p{k:02d}.png").write_bytes(b"a photo")
    jobs = photo_jobs([str(tmp_path / "in")], str(tmp_path / "out"))
    painter = CountingPainter(tmp_path / "loads.txt")
    result = run_batch(painter, jobs, str(tmp_path / "out"), workers=2, quiet=True)
    assert result.painted == 12 and not result.failed
    loads = (tmp_path / "loads.txt").read_text().split()
    assert len(loads) == len(set(loads)) <= 2           # once per worker process, not per photo
    records = read_manifest(tmp_path / "out" / "manifest.jsonl")
    assert {rec["worker"].split(":")[1] for rec in records.values()} <= set(loads)

    (tmp_path / "in" / "poison.png").write_bytes(b"kills its worker")
    jobs = photo_jobs([str(tmp_path / "in")], str(tmp_path / "out"))
    result = run_batch(CountingPainter(tmp_path / "loads2.txt"), jobs, str(tmp_path / "out"),
                       workers=2, quiet=True)
    assert (result.skipped, result.painted) == (12, 0)
    (photo, reason), = result.failed
    assert photo.endswith("poison.png") and "killed every worker that tried it" in reason
    assert read_manifest(tmp_path / "out" / "manifest.jsonl")["poison.png"]["status"] == "failed"
    assert not leftovers(tmp_path / "out")


def test_upscale_and_wct_take_folders_too_and_their_workers_paint_the_same(data, tmp_path):
    from stylelab.files.vgg_h5 import save_random_vgg_h5
    save_model(tmp_path / "sr.h5", TransformNet("c3s1-4,u4,u4,c3s1-3", seed=0),
               {"task": "super-resolution"})
    save_random_vgg_h5(tmp_path / "vgg19.h5", "vgg19", seed=0, upto="relu3_1")
    photos = tmp_path / "photos"
    subprocess.run(["cp", "-a", str(data / "photos" / "n01"), str(photos)], check=True)
    commands = {                                 # each command, given its output folder
        "upscale": lambda out: ["upscale", "--model", tmp_path / "sr.h5", photos, out,
                                "--size", 24],
        "wct": lambda out: ["wct", "--content", photos, "--style", data / "paintings" / "art1.png",
                            "--weights", tmp_path / "vgg19.h5", "--invert", "--levels", "3,2",
                            "--iterations", 2, "--size", 32, "--out", out],
    }
    for name, argv in commands.items():
        serial = run(*argv(tmp_path / f"{name}-1"), "--quiet")
        assert serial.returncode == 0, serial.stderr
        par = run(*argv(tmp_path / f"{name}-2"), "--quiet", "--workers", 2)
        assert par.returncode == 0, par.stderr
        made = pictures(tmp_path / f"{name}-1")
        assert len(made) == 8 and made == pictures(tmp_path / f"{name}-2"), name
        rec = read_manifest(tmp_path / f"{name}-2" / "manifest.jsonl")["p01.jpg"]
        assert rec["method"] == name and rec["status"] == "done"
    with Image.open(tmp_path / "upscale-1" / "p01.png") as im:
        assert max(im.size) == 24 * 4
