"""Public mode's rules for one session, in one place: what this visitor may do and see.

`resources.visitor()` makes one per script run (from the server's mode and whether this session gave the operator
password); the pages and views ask it rather than checking the mode themselves. Locally, and for the operator, there
are no limits; a public-mode visitor has a model and digits of their own, bounded runs that never become the shared
model, and errors in plain words without the server's paths. The bounds themselves are `digitrec_core.public`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from digitrec_core import public

LOCAL_EPOCHS = 100  # the Train page's most epochs where nothing is bounded
LOCAL_FINE_TUNE_EPOCHS = 20  # and My digits' for a fine-tune


@dataclass(frozen=True)
class Visitor:
    """Who this session is: on a public server or not, and allowed to change the shared store or not."""

    public: bool  # the server runs in public mode (the same for every session)
    operator: bool  # may change the shared store: always locally; in public mode once it gave the password

    @property
    def guest(self) -> bool:
        """A public-mode visitor without the password: "your model" rather than the active one, switched for
        this session only, and bounded runs saved for them, never made the shared model."""
        return not self.operator

    @property
    def sees_details(self) -> bool:
        """Errors in full and the server's paths; in public mode these go to the server's log only."""
        return not self.public

    @property
    def session_scoped(self) -> bool:
        """What this session chooses and stores is its own: its model choice and its digits, not the store's
        active model and personal set; a fine-tune then starts from its model and uses only its digits."""
        return self.public

    @property
    def may_import_digits(self) -> bool:
        """A zip may hold 20,000 samples: more than a public-mode visitor may keep on the server."""
        return not self.public

    @property
    def stops_only_own_runs(self) -> bool:
        """In public mode a session may stop only the run it started (the job checks it too)."""
        return self.public

    def training_bounds(self, n_train: int) -> tuple[int, int]:
        """The most epochs and training images a run this session starts may have."""
        return (public.MAX_EPOCHS, min(public.MAX_IMAGES, n_train)) if self.guest else (LOCAL_EPOCHS, n_train)

    @property
    def max_fine_tune_epochs(self) -> int:
        return public.MAX_FINE_TUNE_EPOCHS if self.guest else LOCAL_FINE_TUNE_EPOCHS
