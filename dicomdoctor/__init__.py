"""dicomdoctor: a DICOM network doctor. See DESIGN.md for the layers and contracts."""

__version__ = "0.1.0"
