"""The app's Gradio import: settings made before it, the stub writing skipped, doc templates compiled once,
and IPython and matplotlib kept out of a served app."""
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
             "print(type(box).__name__, hasattr(box, 'change'))\n"
             "import gradio.events as events\n"
             "print(events.Template.cache_info().hits > 100, 'Textbox' in gr.Textbox.change.__doc__,"
             " '{{' in gr.Textbox.change.__doc__)\n")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["_write_no_stub", "False", "agg", "Textbox", "True", "True", "True", "False"]


def test_a_served_app_keeps_ipython_and_matplotlib_out(monkeypatch):
    import importlib

    from qa.gradio_import import UNUSED_WHEN_SERVING, skip_unused_imports

    import gradio  # noqa: F401

    assert skip_unused_imports() == []  # too late to save anything
    for name in [*UNUSED_WHEN_SERVING, "gradio"]:
        monkeypatch.setitem(sys.modules, name, None)  # undone after the test: the entry as it was
        monkeypatch.delitem(sys.modules, name)  # as if never imported
    assert skip_unused_imports() == list(UNUSED_WHEN_SERVING)
    for name in UNUSED_WHEN_SERVING:
        with pytest.raises(ImportError):
            importlib.import_module(name)


def test_docstring_templates_are_compiled_once_per_text():
    from types import SimpleNamespace

    from jinja2 import Template

    from qa.gradio_import import _compile_docs_once

    module = SimpleNamespace(Template=Template)
    _compile_docs_once(module)
    first = module.Template("Triggered when the {{ component }} changes.")
    assert module.Template("Triggered when the {{ component }} changes.") is first
    assert first.render(component="Textbox") == "Triggered when the Textbox changes."
