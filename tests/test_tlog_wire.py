"""The C2SP text formats of ledger.format.tlog_wire, against the examples in the specs."""

from __future__ import annotations

import base64

import pytest

from ledger.errors import FormatError
from ledger.format.tlog_wire import AddCheckpointRequest, TlogProofFile, encode_size, parse_size

# c2sp.org/tlog-witness, "add-checkpoint": the example request body, verbatim.
WITNESS_EXAMPLE = """old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
\u2014 example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
""".encode()

# c2sp.org/tlog-proof, "Format": the example proof; its signatures are abridged there
# and its extra line is cut here to the base64 of a file name.
PROOF_EXAMPLE = """c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

\u2014 example.com/fancylog hI2DJw1roloI=
""".encode()


def test_the_spec_example_request_parses_and_re_encodes() -> None:
    request = AddCheckpointRequest.parse(WITNESS_EXAMPLE)
    assert request.old_size == 20852014
    assert request.proof[0] == base64.b64decode("PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=")
    assert len(request.proof) == 4
    assert request.checkpoint.startswith(b"example.com/behind-the-sofa\n20852163\n")
    assert request.to_bytes() == WITNESS_EXAMPLE


def test_the_spec_example_proof_parses_and_re_encodes() -> None:
    proof = TlogProofFile.parse(PROOF_EXAMPLE)
    assert (proof.extra, proof.index, len(proof.proof)) == (
        b"age-v1.2.1-darwin-arm64.tar.gz",
        73894,
        5,
    )
    assert proof.checkpoint.startswith(b"example.com/fancylog\n109482\n")
    assert proof.to_bytes() == PROOF_EXAMPLE
    without = PROOF_EXAMPLE.replace(b"extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6\n", b"")
    assert TlogProofFile.parse(without).extra is None


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"c2sp.org/tlog-proof@v1\n", b"c2sp.org/tlog-proof@v2\n"),
        (b"index 73894", b"index 073894"),
        (b"index 73894", b"index  73894"),
        (b"index 73894", b"idx 73894"),
        (b"extra YWdl", b"extra  YWdl"),
        (
            b"gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=",
            b"gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlR=",
        ),
        (b"gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=", b"gSKyXoYZUgZ6"),
        (b"\n\nexample.com/fancylog", b"\nexample.com/fancylog"),
    ],
)
def test_a_malformed_proof_is_a_format_error(old: bytes, new: bytes) -> None:
    with pytest.raises(FormatError):
        TlogProofFile.parse(PROOF_EXAMPLE.replace(old, new, 1))


def test_size_answer() -> None:
    assert parse_size(encode_size(20852163)) == 20852163
    for bad in (b"", b"5", b"05\n", b"-1\n", b"5\n\n", b"\xff\n", b"18446744073709551616\n"):
        with pytest.raises(FormatError):
            parse_size(bad)
