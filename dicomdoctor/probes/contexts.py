"""The capability matrix (failure-modes §0 step 7, FM-22/23/24): one presentation context per SOP class x
transfer syntax, so the peer's answer to each pair is seen on its own. Context ids are odd, 1..255, so one
association carries at most 128 contexts; bigger matrices take several associations, one after another.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable, Sequence

from ..errors import BadInput
from ..net.datasets import uid_name  # noqa: F401  (re-exported: checks name UIDs in summaries)
from .association import AssociationFacts, ContextProposal, ContextResult, proposals_matrix

MAX_CONTEXTS = 128
_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)+$")

# The default matrix (DESIGN: Verification, common storage, Q/R; the transfer syntaxes a PACS meets most).
DEFAULT_ABSTRACT_SYNTAXES = (
    "Verification",
    "CTImageStorage", "MRImageStorage", "ComputedRadiographyImageStorage",
    "DigitalXRayImageStorageForPresentation", "UltrasoundImageStorage", "SecondaryCaptureImageStorage",
    "PatientRootQueryRetrieveInformationModelFind", "PatientRootQueryRetrieveInformationModelMove",
    "PatientRootQueryRetrieveInformationModelGet",
    "StudyRootQueryRetrieveInformationModelFind", "StudyRootQueryRetrieveInformationModelMove",
    "StudyRootQueryRetrieveInformationModelGet",
    # The workflow services (IHE Scheduled Workflow): shown as the peer's Workflow role; 17 x 7 = 119 contexts.
    "ModalityWorklistInformationModelFind", "ModalityPerformedProcedureStep", "StorageCommitmentPushModel",
    "InstanceAvailabilityNotification",
)
DEFAULT_TRANSFER_SYNTAXES = (
    "ImplicitVRLittleEndian", "ExplicitVRLittleEndian", "ExplicitVRBigEndian", "JPEGBaseline8Bit",
    "JPEGLosslessSV1", "JPEG2000Lossless", "RLELossless",
)


# The UIDs of the defaults, so that a plain diagnose or echo never pays pydicom's import (about half a second,
# it pulls in numpy); tests/probes check this table against pydicom's dictionary.
BUILTIN_UIDS = {
    "Verification": "1.2.840.10008.1.1",
    "CTImageStorage": "1.2.840.10008.5.1.4.1.1.2",
    "MRImageStorage": "1.2.840.10008.5.1.4.1.1.4",
    "ComputedRadiographyImageStorage": "1.2.840.10008.5.1.4.1.1.1",
    "DigitalXRayImageStorageForPresentation": "1.2.840.10008.5.1.4.1.1.1.1",
    "UltrasoundImageStorage": "1.2.840.10008.5.1.4.1.1.6.1",
    "SecondaryCaptureImageStorage": "1.2.840.10008.5.1.4.1.1.7",
    "PatientRootQueryRetrieveInformationModelFind": "1.2.840.10008.5.1.4.1.2.1.1",
    "PatientRootQueryRetrieveInformationModelMove": "1.2.840.10008.5.1.4.1.2.1.2",
    "PatientRootQueryRetrieveInformationModelGet": "1.2.840.10008.5.1.4.1.2.1.3",
    "StudyRootQueryRetrieveInformationModelFind": "1.2.840.10008.5.1.4.1.2.2.1",
    "StudyRootQueryRetrieveInformationModelMove": "1.2.840.10008.5.1.4.1.2.2.2",
    "StudyRootQueryRetrieveInformationModelGet": "1.2.840.10008.5.1.4.1.2.2.3",
    "ModalityWorklistInformationModelFind": "1.2.840.10008.5.1.4.31",
    "ModalityPerformedProcedureStep": "1.2.840.10008.3.1.2.3.3",
    "StorageCommitmentPushModel": "1.2.840.10008.1.20.1",
    "InstanceAvailabilityNotification": "1.2.840.10008.5.1.4.33",
    "ImplicitVRLittleEndian": "1.2.840.10008.1.2",
    "ExplicitVRLittleEndian": "1.2.840.10008.1.2.1",
    "ExplicitVRBigEndian": "1.2.840.10008.1.2.2",
    "JPEGBaseline8Bit": "1.2.840.10008.1.2.4.50",
    "JPEGLosslessSV1": "1.2.840.10008.1.2.4.70",
    "JPEG2000Lossless": "1.2.840.10008.1.2.4.90",
    "RLELossless": "1.2.840.10008.1.2.5",
}


def resolve_uid(name: str, what: str = "UID") -> str:
    """A pydicom keyword (CTImageStorage, ExplicitVRLittleEndian) or a dotted UID -> the UID.

    An unknown keyword is bad input naming it; pydicom is imported only here (it is not light)."""
    text = str(name).strip()
    if _UID_RE.match(text):
        if len(text) > 64:
            raise BadInput(f"{what} {text!r} is longer than the 64 characters a UID may have")
        return text
    uid = BUILTIN_UIDS.get(text) or _keywords().get(text)
    if uid is not None:
        return uid
    raise BadInput(f"unknown {what} {text!r}: give a pydicom keyword (e.g. CTImageStorage, "
                   f"ExplicitVRLittleEndian) or a dotted UID")


@functools.lru_cache(maxsize=1)
def _keywords() -> dict[str, str]:
    """pydicom's UID dictionary by keyword. `pydicom.uid` exports only some keywords as constants (not
    Verification, not the Q/R models), so the dictionary is the one complete source."""
    from pydicom._uid_dict import UID_dictionary

    return {entry[4]: uid for uid, entry in UID_dictionary.items() if entry[4]}


@dataclass(frozen=True, slots=True)
class MatrixFacts:
    contexts: tuple[ContextResult, ...]
    associations: tuple[AssociationFacts, ...]     # one per batch of <= 128 contexts

    @property
    def complete(self) -> bool:
        """Every batch got an A-ASSOCIATE-AC (else some pairs are unknown, not refused)."""
        return all(a.accepted for a in self.associations)


Probe = Callable[[Sequence[ContextProposal]], Awaitable[AssociationFacts]]


def batches(proposals: Sequence[ContextProposal], size: int = MAX_CONTEXTS) -> list[list[ContextProposal]]:
    size = max(1, min(size, MAX_CONTEXTS))
    return [list(proposals[i:i + size]) for i in range(0, len(proposals), size)]


async def probe_matrix(abstract_syntaxes: Iterable[str], transfer_syntaxes: Sequence[str], probe: Probe,
                       *, batch_size: int = MAX_CONTEXTS) -> MatrixFacts:
    """Propose every pair, `batch_size` contexts per association, sequentially (one association at a time).

    Stops after a batch that is not accepted: the next batch would meet the same rejection (or silence)."""
    proposals = proposals_matrix(abstract_syntaxes, transfer_syntaxes)
    contexts: list[ContextResult] = []
    assocs: list[AssociationFacts] = []
    for batch in batches(proposals, batch_size):
        facts = await probe(batch)
        assocs.append(facts)
        if not facts.accepted:
            break
        contexts.extend(facts.contexts)
    return MatrixFacts(tuple(contexts), tuple(assocs))
