import os

import matchlock

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..")


def test_version_equals_repository_version_file():
    with open(os.path.join(ROOT, "VERSION")) as f:
        assert matchlock.__version__ == f.read().strip() == matchlock.VERSION


def test_installed_distribution_version_matches():
    from importlib.metadata import version

    assert version("matchlock") == matchlock.__version__
