"""``--threads``: the BLAS threads a command runs with (issue 28: a loaded machine was oversubscribed)."""

import pytest
from threadpoolctl import threadpool_info

from stylelab import cli


def blas_threads():
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


def test_threads_limits_the_blas_for_the_command_only(monkeypatch):
    seen = {}
    monkeypatch.setattr(cli.layers, "run", lambda args: seen.setdefault("threads", blas_threads()))
    before = blas_threads()
    assert cli.main(["layers", "any.png", "--out", "o.png", "--threads", "1"]) == 0
    assert seen["threads"] == {1}
    assert blas_threads() == before                  # restored afterwards


@pytest.mark.parametrize("load, cores, expected", [(0.2, 4, None), (1.0, 2, 1), (2.6, 8, 5),
                                                   (9.0, 2, 1)])
def test_auto_leaves_the_busy_cores_alone(monkeypatch, load, cores, expected):
    monkeypatch.setattr(cli.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(cli.os, "cpu_count", lambda: cores)
    assert cli.thread_limit("auto") == expected
    assert cli.thread_limit(3) == 3


def test_threads_must_be_positive(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["layers", "any.png", "--out", "o.png", "--threads", "0"])
    assert exit_.value.code == 2 and "--threads" in capsys.readouterr().err
