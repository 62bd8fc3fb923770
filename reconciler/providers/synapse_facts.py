"""Synapse's rules as data (docs/synapse.md, docs/spec.md "Synapse checks"), the one place each is written.

The offline checks (synapse_checks), the provider and its annotation codec
(synapse.py, synapse_annotations) and the sandbox's fake (sandbox/synapse*.py) all read
these numbers and names; the codec and the fake stay independent implementations of
them, which is the point of a fake.
"""

from __future__ import annotations

import math
import re

# org.sagebionetworks.evaluation.model.SubmissionStatusEnum
STATUSES = (
    "OPEN",
    "CLOSED",
    "SCORED",
    "INVALID",
    "VALIDATED",
    "EVALUATION_IN_PROGRESS",
    "RECEIVED",
    "REJECTED",
    "ACCEPTED",
)
# Annotation keys: Java `matcher.matches()` against ^[a-zA-Z0-9,_.]+; one is reserved.
KEY_PATTERN = re.compile(r"[a-zA-Z0-9,_.]+")
RESERVED_KEY = "_accessrequirementids"
MAX_KEYS = 100  # annotation keys per submission status
MAX_VALUES = 100  # values per annotation key
MAX_STRING_CHARS = 500  # characters across all values of one STRING key
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1  # a Java long (LONG and TIMESTAMP_MS values)
# Synapse's own spellings of the non-finite doubles (lib-utils AbstractDouble), lower-cased.
NON_FINITE = {
    "nan": math.nan,
    "inf": math.inf,
    "+inf": math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "\u221e": math.inf,
    "+\u221e": math.inf,
    "-inf": -math.inf,
    "-infinity": -math.inf,
    "-\u221e": -math.inf,
}
PAGE_LIMIT = 100  # most statuses one page of a listing holds
BATCH_LIMIT = 500  # statusBatch refuses more ("Batch size cannot exceed 500")
MAX_BODY_BYTES = 2 * 1024 * 1024  # RequestSizeThrottleFilter.maximumInputStreamBytes (413 above)
