"""Hand-written golden PDUs (hex, annotated with what each field decodes to), shared by the codec tests
and the tshark / scapy oracle tests. `h()` drops comments and whitespace."""

from __future__ import annotations

import re


def h(text: str) -> bytes:
    return bytes.fromhex(re.sub(r"#[^\n]*", "", text).replace(" ", "").replace("\n", ""))


ECHO_UID = "1.2.840.10008.1.1"
IMPLICIT_LE = "1.2.840.10008.1.2"

# A-ASSOCIATE-RQ (PS3.8 Table 9-11): ECHOSCU -> ANY-SCP, one context (Verification / Implicit VR LE).
ASSOCIATE_RQ = h("""
01 00 00 00 00 b1                                  # type 1, reserved, length 177
00 01 00 00                                        # protocol version 1, reserved
41 4e 59 2d 53 43 50 20 20 20 20 20 20 20 20 20    # called AE  "ANY-SCP" + 9 spaces
45 43 48 4f 53 43 55 20 20 20 20 20 20 20 20 20    # calling AE "ECHOSCU" + 9 spaces
00000000000000000000000000000000 00000000000000000000000000000000   # 32 reserved
10 00 00 15 312e322e3834302e31303030382e332e312e312e31              # 0x10 application context (21)
20 00 00 2e 01 00 00 00                            # 0x20 presentation context (46): id 1, 3 reserved
   30 00 00 11 312e322e3834302e31303030382e312e31  #   0x30 abstract syntax 1.2.840.10008.1.1
   40 00 00 11 312e322e3834302e31303030382e312e32  #   0x40 transfer syntax 1.2.840.10008.1.2
50 00 00 1e                                        # 0x50 user information (30)
   51 00 00 04 00 00 40 00                         #   0x51 maximum length 16384
   52 00 00 07 312e322e332e34                      #   0x52 implementation class UID 1.2.3.4
   55 00 00 07 544553545f3031                      #   0x55 implementation version name TEST_01
""")

# A-ASSOCIATE-AC (PS3.8 Table 9-17): context 1 accepted with Implicit VR LE, max PDU 32768.
ASSOCIATE_AC = h("""
02 00 00 00 00 9c                                  # type 2, length 156
00 01 00 00                                        # protocol version 1, reserved
41 4e 59 2d 53 43 50 20 20 20 20 20 20 20 20 20    # called AE (echoed) "ANY-SCP"
45 43 48 4f 53 43 55 20 20 20 20 20 20 20 20 20    # calling AE (echoed) "ECHOSCU"
00000000000000000000000000000000 00000000000000000000000000000000   # 32 reserved
10 00 00 15 312e322e3834302e31303030382e332e312e312e31              # application context
21 00 00 19 01 00 00 00                            # 0x21 presentation context (25): id 1, result 0
   40 00 00 11 312e322e3834302e31303030382e312e32  #   0x40 transfer syntax 1.2.840.10008.1.2
50 00 00 1e                                        # user information (30)
   51 00 00 04 00 00 80 00                         #   maximum length 32768
   52 00 00 07 312e322e332e34                      #   implementation class UID 1.2.3.4
   55 00 00 07 544553545f3031                      #   implementation version name TEST_01
""")

# A-ASSOCIATE-RJ (Table 9-21): rejected-permanent (1), service-user (1), called-AE-title-not-recognized (7).
ASSOCIATE_RJ = h("03 00 00000004  00 01 01 07")

# P-DATA-TF (Table 9-22) carrying a C-ECHO-RQ command set (implicit VR LE) in one PDV.
PDATA_ECHO_RQ = h("""
04 00 00 00 00 4a                                  # type 4, length 74
00 00 00 46 01 03                                  # PDV length 70, context 1, MCH 0x03 = command, last
00 00 00 00 04 00 00 00 38 00 00 00                #   (0000,0000) UL group length 56
00 00 02 00 12 00 00 00 312e322e3834302e31303030382e312e3100   # (0000,0002) UI 1.2.840.10008.1.1\\0
00 00 00 01 02 00 00 00 30 00                      #   (0000,0100) US command field 0x0030 C-ECHO-RQ
00 00 10 01 02 00 00 00 01 00                      #   (0000,0110) US message id 1
00 00 00 08 02 00 00 00 01 01                      #   (0000,0800) US data set type 0x0101 (none)
""")

# P-DATA-TF carrying the C-ECHO-RSP (status 0x0000).
PDATA_ECHO_RSP = h("""
04 00 00 00 00 54                                  # type 4, length 84
00 00 00 50 01 03                                  # PDV length 80, context 1, command, last
00 00 00 00 04 00 00 00 42 00 00 00                #   group length 66
00 00 02 00 12 00 00 00 312e322e3834302e31303030382e312e3100   # affected SOP class
00 00 00 01 02 00 00 00 30 80                      #   command field 0x8030 C-ECHO-RSP
00 00 20 01 02 00 00 00 01 00                      #   (0000,0120) message id being responded to 1
00 00 00 08 02 00 00 00 01 01                      #   data set type: none
00 00 00 09 02 00 00 00 00 00                      #   (0000,0900) status 0x0000 success
""")

RELEASE_RQ = h("05 00 00000004 00000000")          # Table 9-24
RELEASE_RP = h("06 00 00000004 00000000")          # Table 9-25
# A-ABORT (Table 9-26): source 2 (service provider), reason 6 (invalid-PDU-parameter-value).
ABORT = h("07 00 00000004 00 00 02 06")

# User information sub-items (PS3.7 Annex D), each alone.
SUB_ASYNC = h("53 00 0004  0005 0001")                                # invoked 5, performed 1
SUB_ROLE = h("54 00 000b  0007 312e322e332e34  01 01")                # 1.2.3.4, SCU 1, SCP 1
SUB_EXT = h("56 00 000c  0007 312e322e332e34  01 00 01")              # 1.2.3.4, app info 01 00 01
SUB_COMMON_EXT = h("""
57 00 001c                                         # sub-item version 0, length 28
0007 312e322e332e34                                # SOP class 1.2.3.4
0005 312e322e33                                    # service class 1.2.3
000a 0003 312e35 0003 312e36                       # related general SOP classes: 1.5, 1.6
""")
SUB_IDENTITY_RQ = h("58 00 000e  02 01  0004 75736572  0004 70617373")   # type 2, response wanted, user/pass
SUB_IDENTITY_AC = h("59 00 0006  0004 746f6b6e")                        # server response "tokn"
SUB_UNKNOWN = h("60 00 0002  ab cd")                                    # unknown type 0x60 kept verbatim
