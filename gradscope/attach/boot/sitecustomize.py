"""gradscope's attach: loaded by every Python process of an attached command (this folder is first on PYTHONPATH).

Standard library only, and nothing at all unless GRADSCOPE_ATTACH is set: it chains to the sitecustomize it
shadows, then installs an import hook that attaches gradscope when the process imports torch (the way
coverage.py follows subprocesses). A process that never imports torch is left as it was.
"""

import os
import sys


def _chain() -> None:
    """Run the sitecustomize this file shadows (a distribution's or a virtual environment's), if any."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


def _attach() -> None:
    home = os.environ.get("GRADSCOPE_ATTACH_HOME")  # the folder holding the parent's gradscope package
    try:
        if home and "gradscope" not in sys.modules:
            _load_gradscope(home)  # the parent's own copy, whatever else sys.path holds; sys.path is left alone
        from gradscope.attach.importhook import install
    except ImportError as exc:  # a Python that cannot load it: the script runs unattached, and says so
        sys.stderr.write(f"gradscope: cannot attach to {sys.executable} ({exc}); running the script unattached\n")
        return
    install()


def _load_gradscope(home: str) -> None:
    import importlib.machinery
    import importlib.util

    spec = importlib.machinery.PathFinder.find_spec("gradscope", [home])
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["gradscope"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["gradscope"]
        raise


try:
    _chain()
finally:
    if os.environ.get("GRADSCOPE_ATTACH"):
        _attach()
