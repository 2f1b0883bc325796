"""Import Gradio for the app: analytics off, and without the work it does for its own developers.

Every Gradio component class, when defined, re-reads its source file, parses it and rewrites the type
stub next to it (`gradio.component_meta.create_or_modify_pyi`): about 1 s of CPU of the 2.6 s that
`import gradio` takes here (`python bench/app_start.py` prints both), spent on every start of the app
and on nothing the app uses. `skip_stub_writing()` makes that one function do nothing for this process,
and has the event listeners' docstring templates compiled once per text rather than once per component
(the same docstrings); everything else in Gradio runs as it is. Call it before Gradio is imported;
afterwards it does nothing. `skip_unused_imports()`, for a served app only, keeps Gradio from importing
IPython and matplotlib.
"""
from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.util
import os
import sys

STUB_MODULE = "gradio.component_meta"
EVENTS_MODULE = "gradio.events"


class _SkipStubWriting(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when one of Gradio's modules named in `_PATCHES` is loaded, it patches it right
    after the module runs, before any component class is defined. Removed once both are patched."""

    def __init__(self):
        self.waiting = set(_PATCHES)

    def find_spec(self, name, path, target=None):
        if name not in self.waiting:
            return None
        self.waiting.discard(name)  # also keeps the search below from coming back here
        if not self.waiting:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run, patch = spec.loader.exec_module, _PATCHES[name]

        def exec_module(module):
            run(module)
            patch(module)

        spec.loader.exec_module = exec_module
        return spec


def _write_no_stub(component_class, class_name, events) -> None:
    """Stands in for gradio.component_meta.create_or_modify_pyi: the stubs are for editors, not the app."""


def _skip_stubs(module) -> None:
    if hasattr(module, "create_or_modify_pyi"):
        module.create_or_modify_pyi = _write_no_stub


def _compile_docs_once(module) -> None:
    """Every component's event listeners render their docstring as a Jinja template (`EventListener.set_doc`):
    ~300 compilations of ~30 distinct texts (~0.4 s of the import). Compiled once per text instead; the
    docstrings come out the same."""
    if hasattr(module, "Template"):
        module.Template = functools.lru_cache(maxsize=None)(module.Template)


_PATCHES = {STUB_MODULE: _skip_stubs, EVENTS_MODULE: _compile_docs_once}  # module -> patch after it runs


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


# Modules Gradio imports when they are installed but a served kamerqa app never uses (names -> why):
UNUSED_WHEN_SERVING = {
    "IPython": "Gradio's notebook magic, and its check whether it runs in a notebook: ~0.3 s of the start",
    "matplotlib": "Gradio sets matplotlib's backend around every event (for gr.Plot, which the app has not): "
                  "~0.6 s of the first answer",
}


def skip_unused_imports() -> list[str]:
    """For the served app only (`kamerqa serve`, `python app.py`), before Gradio is imported: the modules of
    UNUSED_WHEN_SERVING are not imported in this process (an import of one raises ImportError, which Gradio
    expects when they are not installed). Not for an app built in a notebook or drawing plots. Returns the
    names now kept out (those not imported already); none once Gradio is imported (nothing left to save)."""
    if "gradio" in sys.modules:
        return []
    skipped = [name for name in UNUSED_WHEN_SERVING if sys.modules.get(name, None) is None]
    for name in skipped:
        sys.modules[name] = None
    return skipped
