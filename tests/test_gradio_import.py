"""The app's Gradio import: settings made before it, and the stub writing skipped."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_skipping_needs_gradio_not_imported_yet():
    import gradio  # noqa: F401

    from qa.gradio_import import skip_stub_writing

    assert skip_stub_writing() is False


@pytest.mark.slow
def test_the_app_imports_gradio_without_writing_stubs_and_its_components_work():
    probe = ("import os\n"
             "from qa.gradio_import import import_gradio\n"
             "gr = import_gradio()\n"
             "import gradio.component_meta as meta\n"
             "print(meta.create_or_modify_pyi.__name__, os.environ['GRADIO_ANALYTICS_ENABLED'],"
             " os.environ['MPLBACKEND'])\n"
             "with gr.Blocks() as demo:\n"
             "    box = gr.Textbox('x', elem_id='b')\n"
             "print(type(box).__name__, hasattr(box, 'change'))\n")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["_write_no_stub", "False", "agg", "Textbox", "True"]
