"""capture: offline analysis of pcap/pcapng files through the same ul/dimse cores as the live path, live
recording of a session (``--capture FILE``) and raw TCP probes (scapy, needs privileges).

scapy is imported lazily (only the scapy fallback of live.py uses it; the raw SYN probe lives in probes/raw.py): ``dicomdoctor pcap``
reads captures with its own struct-based reader, which is what makes it fast.
"""

from .analyse import CaptureAnalysis, analyse_file
from .reader import CaptureFormatError, CaptureReader, Segment

__all__ = ["analyse_file", "CaptureAnalysis", "CaptureFormatError", "CaptureReader", "Segment"]
