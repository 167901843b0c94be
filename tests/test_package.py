"""helpers/__init__.py: the one rule for what `helpers` exports.

Every public class and function defined in a helpers module is re-exported by `helpers`
(so `helpers.MultiHeadAttention` works as well as `helpers.multihead.MultiHeadAttention`),
except the exercise checks, which stay in `helpers.exercises`, and the learner's pieces,
reached as `helpers.yours.piece("MultiHeadAttention")`.
"""
import importlib
import inspect
import pkgutil

import helpers

NOT_FLATTENED = {"exercises", "yours"}


def public_definitions():
    # Subpackages too: helpers.widgets.vit's ViTExplorer is helpers.ViTExplorer.
    for info in pkgutil.walk_packages(helpers.__path__, prefix="helpers."):
        parts = info.name.split(".")[1:]
        if any(p.startswith("_") for p in parts) or parts[0] in NOT_FLATTENED:
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
                    and obj.__module__ == module.__name__):
                yield name, obj


def test_helpers_exports_every_public_class_and_function():
    missing = [f"{obj.__module__}.{name}" for name, obj in public_definitions()
               if getattr(helpers, name, None) is not obj or name not in helpers.__all__]
    assert not missing, f"add these to helpers/__init__.py: {missing}"


def test_everything_in_all_exists_and_is_public():
    for name in helpers.__all__:
        assert not name.startswith("_") and hasattr(helpers, name), name
    assert sorted(helpers.__all__) == helpers.__all__, "keep __all__ sorted"
