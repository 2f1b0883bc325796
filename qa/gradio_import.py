"""Import Gradio for the app: analytics off, and without the work it does for its own developers.

Every Gradio component class, when defined, re-reads its source file, parses it and rewrites the type
stub next to it (`gradio.component_meta.create_or_modify_pyi`): about 1 s of CPU of the 2.6 s that
`import gradio` takes here (`python bench/app_start.py` prints both), spent on every start of the app
and on nothing the app uses. `skip_stub_writing()` makes that one function do nothing for this process;
everything else in Gradio runs as it is. Call it before Gradio is imported; afterwards it does nothing.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys

STUB_MODULE = "gradio.component_meta"


class _SkipStubWriting(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when Gradio's component_meta module is loaded, it swaps the stub writer out
    right after the module runs, before any component class is defined. Used once, then removed."""

    def find_spec(self, name, path, target=None):
        if name != STUB_MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            if hasattr(module, "create_or_modify_pyi"):
                module.create_or_modify_pyi = _write_no_stub

        spec.loader.exec_module = exec_module
        return spec


def _write_no_stub(component_class, class_name, events) -> None:
    """Stands in for gradio.component_meta.create_or_modify_pyi: the stubs are for editors, not the app."""


def skip_stub_writing() -> bool:
    """Before `import gradio`: skip its stub writing in this process. False if Gradio is imported already."""
    if "gradio" in sys.modules:
        return False
    if not any(isinstance(finder, _SkipStubWriting) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SkipStubWriting())
    return True


def import_gradio():
    """The `gradio` module, imported with the app's settings (set before the import, which reads them):
    no usage analytics; the queue's pandas summary of its last events made every 1,000 events, not after
    each (it was 18% of the app's time under bench/load.py); matplotlib's backend named, so Gradio's
    check of it around every event does not import pyplot (0.4 s of the first answer); no stub writing."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")
    os.environ.setdefault("MPLBACKEND", "agg")
    skip_stub_writing()
    return importlib.import_module("gradio")
