import os

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT


@pytest.mark.parametrize("where", ["absolute", "relative to the repository"])
def test_notebook_runs_against_a_small_run(small_run, monkeypatch, where):
    # the kernel starts in notebooks/, as Jupyter starts it; a relative path is still the repository's
    run_dir = str(small_run) if where == "absolute" else os.path.relpath(small_run, ROOT)
    monkeypatch.setenv("MONAS_RUN_DIR", run_dir)
    notebook = nbformat.read(ROOT / "notebooks" / "pareto_front.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(images) == 3  # front, hypervolume, front progress
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "on the front" in text and "error" in text


def test_the_default_run_is_the_quick_starts():
    notebook = nbformat.read(ROOT / "notebooks" / "pareto_front.ipynb", as_version=4)
    readme = (ROOT / "README.md").read_text()
    assert '"runs/quickstart")' in notebook.cells[1].source and "--out runs/quickstart" in readme
