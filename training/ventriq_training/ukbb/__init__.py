"""Real-data loaders for UK Biobank, returning the record types of ``ventriq_training.records``.

Each module's docstring states the file format, its sources, and which facts are unconfirmed.
"""

from ventriq_training.ukbb.cmr_nifti import load_cine_nifti, load_cine_nifti_ed_es, write_cine_nifti
from ventriq_training.ukbb.ecg_xml import load_ecg_xml, write_ecg_xml
from ventriq_training.ukbb.labels import load_labels_csv
from ventriq_training.ukbb.subject import UKBBSubjectSource

__all__ = [
    "UKBBSubjectSource",
    "load_cine_nifti",
    "load_cine_nifti_ed_es",
    "load_ecg_xml",
    "load_labels_csv",
    "write_cine_nifti",
    "write_ecg_xml",
]
