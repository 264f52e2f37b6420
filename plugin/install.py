"""``sonicvision install resolve|premiere``: put the host plugins where the editing tools look.

Each file is written beside its target and renamed in; a file of the same name that this
installer did not write is never replaced. A manifest beside the files records what was
installed and each file's SHA-256, so ``--uninstall`` removes exactly that and leaves alone
anything the user changed since.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

from sonicvision import files
from sonicvision.errors import SonicVisionError

INSTALL_HELP = "install the DaVinci Resolve script or the Premiere Pro panel for this user"
HERE = Path(__file__).resolve().parent
RESOLVE_SOURCE = HERE / "resolve"
RESOLVE_FILES = ("SonicVision Foley.py", "sonicvision_resolve.py")
PREMIERE_SOURCE = HERE / "premiere"
PREMIERE_FOLDER = "sonicvision-premiere"
PREMIERE_PATTERNS = ("manifest.json", "index.html", "main.js", "lib/*.js", "icons/*.png")
MANIFEST = "sonicvision_install.json"


class InstallError(SonicVisionError):
    """Installing or removing a plugin would replace or lose something that is not ours."""


def resolve_scripts_dir(
    platform: str = sys.platform,
    env: Mapping[str, str] = os.environ,
    home: Path | None = None,
) -> Path:
    """The per-user folder whose scripts Resolve lists under Workspace > Scripts."""
    home = home or Path.home()
    if platform == "darwin":
        fusion = home / "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion"
    elif platform == "win32":
        appdata = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
        fusion = appdata / "Blackmagic Design/DaVinci Resolve/Support/Fusion"
    else:
        fusion = home / ".local/share/DaVinciResolve/Fusion"
    return fusion / "Scripts" / "Utility"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(folder: Path) -> dict:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InstallError(
            f"cannot read the install manifest: {exc}", path=folder / MANIFEST
        ) from None
    return data if isinstance(data, dict) else {}


def _write(target: Path, data: bytes) -> None:
    files.write_bytes(target, data)


def _copy_set(sources: list[tuple[Path, str]], folder: Path, extra: dict) -> list[Path]:
    """Copy ``(source, relative name)`` pairs into ``folder``; refuse before writing anything."""
    ours = _manifest(folder).get("files", {})
    for source, name in sources:
        target = folder / name
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise InstallError("is not a regular file; not replaced", path=target)
        if target.exists():
            same = target.read_bytes() == source.read_bytes()
            if not same and ours.get(name) != _sha(target):
                raise InstallError(
                    "already exists and was not installed by SonicVision; not replaced "
                    "(move it away, or pass another --dest)",
                    path=target,
                )
    written = []
    for source, name in sources:
        _write(folder / name, source.read_bytes())
        written.append(folder / name)
    from sonicvision import __version__

    record = {
        "installed_by": f"sonicvision {__version__}",
        "files": {name: _sha(source) for source, name in sources},
        **extra,
    }
    _write(folder / MANIFEST, json.dumps(record, indent=2).encode())
    return written


def _sys_path() -> list[str]:
    """Where this Python finds SonicVision, for the Python Resolve runs the script with."""
    paths = sysconfig.get_paths()
    return list(dict.fromkeys(paths[k] for k in ("purelib", "platlib")))


def install_resolve(dest: Path | None = None) -> list[Path]:
    folder = dest or resolve_scripts_dir()
    folder.mkdir(parents=True, exist_ok=True)
    sources = [(RESOLVE_SOURCE / name, name) for name in RESOLVE_FILES]
    extra = {"sys_path": _sys_path(), "python": f"{sys.version_info[0]}.{sys.version_info[1]}"}
    return _copy_set(sources, folder, extra)


def premiere_files() -> list[tuple[Path, str]]:
    files = []
    for pattern in PREMIERE_PATTERNS:
        for path in sorted(PREMIERE_SOURCE.glob(pattern)):
            files.append((path, path.relative_to(PREMIERE_SOURCE).as_posix()))
    if not any(name == "manifest.json" for _, name in files):
        raise InstallError("the Premiere panel's files are missing", path=PREMIERE_SOURCE)
    return files


def install_premiere(dest: Path) -> list[Path]:
    return _copy_set(premiere_files(), dest / PREMIERE_FOLDER, {})


def uninstall(folder: Path) -> tuple[list[Path], list[Path]]:
    """Remove what the manifest lists; returns (removed, kept because changed since)."""
    files = _manifest(folder).get("files")
    if not files:
        raise InstallError("nothing installed by SonicVision here", path=folder)
    removed, kept = [], []
    for name, digest in files.items():
        target = folder / name
        if not target.is_file() or target.is_symlink():
            continue
        if _sha(target) == digest:
            target.unlink()
            removed.append(target)
        else:
            kept.append(target)
    (folder / MANIFEST).unlink()
    for target in removed:  # folders the install made (lib/), once empty
        parent = target.parent
        while (
            parent != folder
            and parent.is_relative_to(folder)
            and parent.is_dir()
            and not any(parent.iterdir())
        ):
            parent.rmdir()
            parent = parent.parent
    return removed, kept


def install_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("host", choices=["resolve", "premiere"], help="which editing tool")
    p.add_argument(
        "--dest",
        type=Path,
        metavar="DIR",
        help="resolve: the Fusion Scripts/Utility folder (default: this user's); "
        "premiere: a folder to copy the panel into (default: print how to load it)",
    )
    p.add_argument("--uninstall", action="store_true", help="remove what was installed")


def _premiere_help() -> str:
    manifest = PREMIERE_SOURCE / "manifest.json"
    return "\n".join(
        [
            f"SonicVision panel for Premiere Pro 25.6 or later: {PREMIERE_SOURCE}",
            "  Load it: Adobe UXP Developer Tool > Add Plugin > choose",
            f"    {manifest}",
            "    then Load (Premiere must be running; Developer Mode on in its settings).",
            "  Or package it there (Package: a .ccx file) and double-click the .ccx: Creative",
            "    Cloud installs it for this user (Adobe's UnifiedPluginInstallerAgent --install",
            "    does the same from a terminal).",
            "  Copy it elsewhere first: sonicvision install premiere --dest DIR",
            "  The panel talks to: sonicvision serve --http-port 50052",
        ]
    )


def cmd_install(args) -> int:
    if args.host == "resolve":
        folder = args.dest or resolve_scripts_dir()
        if args.uninstall:
            removed, kept = uninstall(folder)
            for path in removed:
                print(f"removed {path}")
            for path in kept:
                print(f"kept {path} (changed since it was installed)")
            return 0
        for path in install_resolve(folder):
            print(f"installed {path}")
        print("In Resolve: Workspace > Scripts > SonicVision Foley (restart Resolve if absent).")
        return 0
    if args.dest is None:
        if args.uninstall:
            raise InstallError("say where the panel was copied: --dest DIR", field="dest")
        print(_premiere_help())
        return 0
    folder = args.dest / PREMIERE_FOLDER
    if args.uninstall:
        removed, kept = uninstall(folder)
        for path in kept:
            print(f"kept {path} (changed since it was installed)")
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        print(f"removed {len(removed)} files from {folder}")
        return 0
    written = install_premiere(args.dest)
    print(f"installed {len(written)} files in {folder}")
    print(f"Load {folder / 'manifest.json'} with Adobe UXP Developer Tool (Add Plugin).")
    return 0
