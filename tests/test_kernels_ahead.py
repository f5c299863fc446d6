"""Stage kernels started ahead (kernels.py): a kernel asked for ahead of its stage has already
imported the stage's modules when the notebook starts, and papermill runs the notebook on it."""
from __future__ import annotations

import nbformat
import papermill
import pytest

from churn_workbench.kernels import Prestarter
from churn_workbench.pipeline import NOTEBOOK_DIR, IpcKernelManager


@pytest.mark.slow
def test_a_kernel_started_ahead_runs_the_notebook_with_the_stage_already_imported(tmp_path):
    kernels = Prestarter(IpcKernelManager, "python3", NOTEBOOK_DIR)
    kernels.start("predict")
    km = kernels.take("predict")
    process = km.provisioner.process
    try:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            "import sys, os\n"
            "print('stage imported before the first cell:', 'churn_workbench.stages.predict' in sys.modules)\n"
            "print('pid', os.getpid())")])
        source, output = tmp_path / "probe.ipynb", tmp_path / "probe.out.ipynb"
        nbformat.write(nb, source)
        papermill.execute_notebook(str(source), str(output), kernel_name="python3", progress_bar=False,
                                   kernel_manager_class=IpcKernelManager, km=km)
        text = nbformat.read(output, as_version=4).cells[0].outputs[0]["text"]
        assert "stage imported before the first cell: True" in text
        assert f"pid {process.pid}" in text  # the notebook ran on the started kernel
    finally:
        kernels.stop(km, now=True)
        kernels.close()
    assert process.wait(timeout=30) is not None  # and it is stopped
