"""capture: offline analysis of pcap/pcapng files through the same ul/dimse cores as the live path, live
recording of a session (``--capture FILE``) and raw TCP probes (scapy, needs privileges).

scapy is imported lazily (only rawprobe.py and the scapy fallback of live.py use it): ``dicomdoctor pcap``
reads captures with its own struct-based reader, which is what makes it fast.
"""

from .analyse import CaptureAnalysis, analyse_file
from .reader import CaptureFormatError, CaptureReader, Segment

__all__ = ["analyse_file", "CaptureAnalysis", "CaptureFormatError", "CaptureReader", "Segment"]
