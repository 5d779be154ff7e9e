"""The fenced ```python blocks of docs/sdk-python.md and examples/python/agent.py, run as-is."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
DOC = os.path.join(ROOT, "docs", "sdk-python.md")


def doc_blocks():
    with open(DOC) as f:
        return re.findall(r"^```python\n(.*?)^```", f.read(), re.S | re.M)


def test_docs_have_examples():
    assert len(doc_blocks()) >= 5


@pytest.mark.parametrize("index", range(len(doc_blocks())))
def test_doc_example_runs(index, tmp_path):
    script = tmp_path / f"block{index}.py"
    script.write_text(doc_blocks()[index])
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"block {index}:\n{doc_blocks()[index]}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"


def test_agent_example():
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "python", "agent.py")], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "guest saw only the placeholder" in done.stdout
