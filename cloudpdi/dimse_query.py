"""C-FIND queries (PS3.4 C.4.1) in the Patient Root and Study Root information models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pynetdicom import build_context
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)
from pynetdicom.status import STATUS_PENDING, STATUS_SUCCESS, code_to_category

from cloudpdi.dimse_peer import (
    DEFAULT_CALLING_AE,
    DicomPeer,
    DimseStatusError,
    associate,
    require_context,
    response_status,
)

Level = Literal["PATIENT", "STUDY", "SERIES", "IMAGE"]
Model = Literal["PATIENT", "STUDY"]

#: Query/Retrieve levels from the top of the hierarchy down (PS3.4 C.3).
QUERY_LEVELS: tuple[Level, ...] = ("PATIENT", "STUDY", "SERIES", "IMAGE")
#: The C-FIND SOP Class of each information model.
FIND_MODELS: dict[str, str] = {
    "PATIENT": PatientRootQueryRetrieveInformationModelFind,
    "STUDY": StudyRootQueryRetrieveInformationModelFind,
}
#: Specific Character Set of a query that holds text beyond ASCII and names none itself.
UTF8_CHARACTER_SET = "ISO_IR 192"


def check_level(level: str, model: str) -> None:
    """Raise ValueError unless ``level`` is a query level of information ``model``."""
    if model not in FIND_MODELS:
        raise ValueError(f"unknown information model {model!r}; expected PATIENT or STUDY")
    if level not in QUERY_LEVELS or (model == "STUDY" and level == "PATIENT"):
        raise ValueError(f"{level!r} is not a query level of the {model} root model")


def query_dataset(level: str, keys: Mapping[str, object] | Dataset) -> Dataset:
    """Return the C-FIND identifier for ``keys`` (keyword to value; "" asks for the value).

    Text beyond ASCII gets Specific Character Set ISO_IR 192 unless ``keys`` names one.
    """
    if isinstance(keys, Dataset):
        identifier = Dataset()
        identifier.update(keys)
    else:
        identifier = Dataset()
        for keyword, value in keys.items():
            tag = tag_for_keyword(keyword)
            if tag is None:
                raise ValueError(f"unknown DICOM keyword {keyword!r}")
            identifier.add_new(tag, dictionary_VR(tag), value)
    identifier.QueryRetrieveLevel = level
    plain = all(str(element.value).isascii() for element in identifier)
    if not plain and "SpecificCharacterSet" not in identifier:
        identifier.SpecificCharacterSet = UTF8_CHARACTER_SET
    return identifier


def find(
    peer: DicomPeer,
    level: Level,
    keys: Mapping[str, object] | Dataset,
    model: Model = "STUDY",
    *,
    calling_ae: str = DEFAULT_CALLING_AE,
) -> list[Dataset]:
    """Return the identifiers ``peer`` answers to a C-FIND at ``level`` with ``keys``."""
    check_level(level, model)
    sop_class = FIND_MODELS[model]
    identifier = query_dataset(level, keys)
    matches = []
    with associate(peer, [build_context(sop_class)], calling_ae=calling_ae) as assoc:
        require_context(assoc, sop_class, peer)
        for response, match in assoc.send_c_find(identifier, sop_class):
            status = response_status(response, peer, "C-FIND")
            category = code_to_category(status)
            if category == STATUS_PENDING:
                if match is not None:
                    matches.append(match)
            elif category != STATUS_SUCCESS:
                raise DimseStatusError(f"{peer} answered C-FIND with 0x{status:04X}", status)
    return matches
