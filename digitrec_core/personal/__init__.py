"""The personal digit set: digits the user drew or corrected, kept in the model store to learn their hand.

    sample     one sample's metadata and its checks; PersonalDigitsError
    codec      the PNG codec: the raw image and the 28x28 digit
    exchange   the set as a zip: export, and an untrusted zip imported safely
    digits     PersonalDigits, the set in `<store>/personal`

Everything other modules import from `digitrec_core.personal` is named here; the modules inside import
each other directly, never this package.
"""

from digitrec_core.personal.codec import BLANK, MAX_DIGIT_BYTES, MAX_RAW_BYTES, PNG_SIGNATURE, RAW_SIDE
from digitrec_core.personal.digits import FOLDER, MAX_META_BYTES, MAX_SAMPLE_BYTES, ORPHAN_AGE, PersonalDigits
from digitrec_core.personal.exchange import (
    COLUMNS,
    INDEX,
    MAX_INDEX_BYTES,
    MAX_MEMBERS,
    MAX_ROWS,
    MAX_TOTAL_BYTES,
    ImportReport,
)
from digitrec_core.personal.sample import DIGIT, FORMAT, ID_RE, MAX_MODEL_NAME, META, RAW, PersonalDigitsError, Sample

__all__ = [
    "BLANK", "COLUMNS", "DIGIT", "FOLDER", "FORMAT", "ID_RE", "INDEX", "MAX_DIGIT_BYTES", "MAX_INDEX_BYTES",
    "MAX_MEMBERS", "MAX_META_BYTES", "MAX_MODEL_NAME", "MAX_RAW_BYTES", "MAX_ROWS", "MAX_SAMPLE_BYTES",
    "MAX_TOTAL_BYTES", "META", "ORPHAN_AGE", "PNG_SIGNATURE", "RAW", "RAW_SIDE", "ImportReport", "PersonalDigits",
    "PersonalDigitsError", "Sample",
]
