"""SonicVision Foley: sounds for the current timeline (Workspace > Scripts > SonicVision Foley).

Resolve runs this file with ``resolve``, ``fusion`` and ``bmd`` as globals; run from a terminal
it connects through DaVinciResolveScript (Resolve Studio). The work is in the module
``sonicvision_resolve`` beside this file; this file only finds it and calls ``main``.
"""

import json
import os
import site
import sys
from pathlib import Path

MODULE = "sonicvision_resolve"
MANIFEST = "sonicvision_install.json"


def _candidate_dirs():
    """Where the module may sit: beside this file, $SONICVISION_RESOLVE_DIR, the user's
    Fusion Scripts/Utility folder (Resolve does not always set ``__file__``)."""
    dirs = []
    here = globals().get("__file__")
    if here:
        dirs.append(Path(here).resolve().parent)
    if os.environ.get("SONICVISION_RESOLVE_DIR"):
        dirs.append(Path(os.environ["SONICVISION_RESOLVE_DIR"]))
    home = Path.home()
    if sys.platform == "darwin":
        base = home / "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion"
    elif sys.platform == "win32":
        appdata = os.environ.get("APPDATA") or str(home / "AppData" / "Roaming")
        base = Path(appdata) / "Blackmagic Design/DaVinci Resolve/Support/Fusion"
    else:
        base = home / ".local/share/DaVinciResolve/Fusion"
    dirs.append(base / "Scripts" / "Utility")
    return dirs


def _load():
    for folder in _candidate_dirs():
        manifest = folder / MANIFEST
        if manifest.is_file():
            try:  # where `sonicvision install resolve` found SonicVision's packages
                for entry in json.loads(manifest.read_text(encoding="utf-8")).get("sys_path", []):
                    site.addsitedir(entry)
            except (OSError, ValueError):
                pass
        if (folder / f"{MODULE}.py").is_file():
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
            break
    try:
        import sonicvision_resolve
    except ImportError:
        from sonicvision.plugin.resolve import sonicvision_resolve
    return sonicvision_resolve


def _run():
    module = _load()
    host = globals()
    fusion = host.get("fusion") or host.get("fu")
    resolve = host.get("resolve")
    if resolve is None and host.get("app") is not None:
        resolve = host["app"].GetResolve()
    argv = sys.argv[1:] if __name__ == "__main__" and resolve is None else []
    return module.main(argv, resolve=resolve, fusion=fusion, bmd=host.get("bmd"))


if __name__ == "__main__" or "resolve" in globals() or "app" in globals():
    _code = _run()
    if "resolve" not in globals() and "app" not in globals():
        sys.exit(_code)  # from a terminal only: inside Resolve the script just ends
