"""The `explain_calls` fixture, for the pages that show "Why this answer?" (the Draw page, the Test browser).

A test module that uses it loads this module with `pytest_plugins`: a fixture imported by name would read as an
unused import redefined by the test's argument. Keep the helpers tests import out of it: pytest warns about a plugin
module imported before it loads it."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def explain_calls(monkeypatch):
    """Every `explain` the panel makes, counted (the real one runs)."""
    import digitrec_app.ui.explanation as panel

    calls = []
    real = panel.explain

    def counted(model, image, target=None):
        calls.append(np.asarray(image).copy())
        return real(model, image, target)

    monkeypatch.setattr(panel, "explain", counted)
    return calls
