"""HL7 v2 ACK building: addressed back to the sender, in the message's charset, with ERR for AE/AR."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from gateway.inbound.hl7v2 import parse_hl7v2
from gateway.inbound.hl7v2_ack import build_hl7_ack
from gateway.inbound.limits import Limits

SAMPLES = Path(__file__).parents[3] / "fixtures" / "samples" / "inbound"
NOW = datetime(2024, 3, 1, 9, 16, tzinfo=UTC)


def _segments(ack: bytes, codec: str) -> list[list[str]]:
    return [segment.split("|") for segment in ack.decode(codec).split("\r") if segment]


def test_aa_swaps_sender_and_receiver_and_quotes_the_control_id() -> None:
    adt = parse_hl7v2((SAMPLES / "adt_a03_discharge_8859-1.hl7").read_bytes(), limits=Limits())
    msh, msa = _segments(build_hl7_ack(adt, "AA", now=NOW), "latin-1")
    assert msh[2:6] == ["GATEWAY", "KOMMUNE", "SP-PSYK", "RHP^265161000016000^SOR"]
    assert msh[6] == "20240301091600+0000"
    assert msh[8] == "ACK^A03^ACK"
    assert msh[17] == "8859/1"
    assert msa == ["MSA", "AA", "SP0005", ""]


def test_ae_carries_the_reason_in_err_with_danish_letters_and_escapes() -> None:
    adt = parse_hl7v2((SAMPLES / "adt_a03_discharge_8859-1.hl7").read_bytes(), limits=Limits())
    ack = build_hl7_ack(adt, "AE", "Modtager ukendt: Ølstykke | SOR^123", now=NOW)
    segments = _segments(ack, "latin-1")
    assert segments[1][1] == "AE"
    err = segments[2]
    assert err[0] == "ERR" and err[4] == "E"
    assert err[8] == "Modtager ukendt: Ølstykke \\F\\ SOR\\S\\123"


def test_ar_for_unparseable_bytes_still_addresses_the_sender() -> None:
    raw = b"MSH|^~\\&|APP|FAC|GW|GW|20240301||ADT^A99|C42|P|2.5\rPID|broken"
    segments = _segments(build_hl7_ack(raw, "AR", "unsupported", now=NOW), "utf-8")
    assert segments[0][2:6] == ["GW", "GW", "APP", "FAC"]
    assert segments[1][:3] == ["MSA", "AR", "C42"]
    assert segments[2][4] == "F"


def test_same_message_gets_the_same_ack_control_id() -> None:
    adt = parse_hl7v2((SAMPLES / "adt_a03_discharge_8859-1.hl7").read_bytes(), limits=Limits())
    assert build_hl7_ack(adt, "AA", now=NOW) == build_hl7_ack(adt, "AA", now=NOW)
    assert _segments(build_hl7_ack(adt, "AA", now=NOW), "latin-1")[0][9] == "ACKSP0005"
