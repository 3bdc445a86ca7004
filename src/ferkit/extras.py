"""Optional dependency groups: ``pip install ferkit`` predicts and serves on ONNX Runtime; ``ferkit[train]`` adds
torch and the rest for training, evaluation, export and attention maps; ``ferkit[batch]`` adds Ray Data and pyarrow
for ``ferkit batch``. One table maps each optional module to
the extra that installs it, so every missing-package error names the same fix."""

from __future__ import annotations

import importlib.util

# Top-level module name -> (pip extra, distribution name); kept in step with pyproject's optional-dependencies.
OPTIONAL_MODULES: dict[str, tuple[str, str]] = {
    "torch": ("train", "torch"),
    "torchvision": ("train", "torchvision"),
    "sklearn": ("train", "scikit-learn"),
    "scipy": ("train", "scipy"),
    "matplotlib": ("train", "matplotlib"),
    "onnx": ("train", "onnx"),
    "safetensors": ("train", "safetensors"),
    "yaml": ("train", "pyyaml"),
    "av": ("video", "av"),
    "pandas": ("", "pandas"),
    "ray": ("batch", "ray[data]"),
    "pyarrow": ("batch", "pyarrow"),
}


class MissingExtraError(ImportError):
    """An optional package a feature needs is not installed; the message says what to ``pip install``."""


def install_hint(module: str) -> str | None:
    """``pip install 'ferkit[train]'`` (or ``pip install pandas``) for an optional module; None for any other."""
    entry = OPTIONAL_MODULES.get(module.split(".")[0])
    if entry is None:
        return None
    extra, dist = entry
    return f"pip install 'ferkit[{extra}]'" if extra else f"pip install {dist}"


def is_installed(module: str) -> bool:
    # find_spec can raise (a broken package, or an import hook that blocks it): count that as missing.
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(purpose: str, *modules: str) -> None:
    """MissingExtraError naming ``purpose`` and the install command unless every one of ``modules`` is importable."""
    missing = [m for m in modules if not is_installed(m)]
    if missing:
        hints = sorted({install_hint(m) or f"pip install {m}" for m in missing})
        raise MissingExtraError(
            f"{purpose} needs {', '.join(missing)}, which this install lacks; install it with "
            f"`{'` and `'.join(hints)}`.",
            name=missing[0],
        )


def torch_available() -> bool:
    return is_installed("torch")
