"""The interfaces API: flows between applications, filtered by either end, source, target, protocol, middleware."""

from __future__ import annotations

import pytest

from tests.unit.builders import make_application, make_interface


@pytest.fixture
def flows(session):
    bca = make_application(session, "BCA", "Banque de Compensation")
    pay = make_application(session, "PAY", "Paie")
    xyz = make_application(session, "XYZ", "Habilitations")
    make_interface(session, bca, pay, protocol="SFTP", frequency="daily", middleware="CFT", description="Virements")
    make_interface(session, xyz, bca, protocol="REST")
    make_interface(session, pay, xyz, protocol="REST", middleware="Kafka")
    make_interface(session, bca, xyz, protocol="MQ", middleware="CFT")


def pairs(response) -> list[tuple[str, str, str]]:
    return [
        (item["source"]["trigram"], item["target"]["trigram"], item["protocol"])
        for item in response.get_json()["results"]
    ]


def test_list_is_sorted_by_source_then_target(client, flows):
    assert pairs(client.get("/api/v1/interfaces")) == [
        ("BCA", "PAY", "SFTP"),
        ("BCA", "XYZ", "MQ"),
        ("PAY", "XYZ", "REST"),
        ("XYZ", "BCA", "REST"),
    ]


def test_list_gives_both_ends_and_every_detail(client, flows):
    results = client.get("/api/v1/interfaces?protocol=sftp").get_json()["results"]
    assert results == [
        {
            "source": {"trigram": "BCA", "name": "Banque de Compensation"},
            "target": {"trigram": "PAY", "name": "Paie"},
            "protocol": "SFTP",
            "frequency": "daily",
            "middleware": "CFT",
            "description": "Virements",
        }
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("application=bca", [("BCA", "PAY", "SFTP"), ("BCA", "XYZ", "MQ"), ("XYZ", "BCA", "REST")]),
        ("source=bca", [("BCA", "PAY", "SFTP"), ("BCA", "XYZ", "MQ")]),
        ("target=BCA", [("XYZ", "BCA", "REST")]),
        ("source=bca&target=xyz", [("BCA", "XYZ", "MQ")]),
        ("protocol=rest", [("PAY", "XYZ", "REST"), ("XYZ", "BCA", "REST")]),
        ("protocol=REST&application=pay", [("PAY", "XYZ", "REST")]),
        ("middleware=cft", [("BCA", "PAY", "SFTP"), ("BCA", "XYZ", "MQ")]),
        ("protocol=ftp", []),
        ("application=NOPE", []),
    ],
)
def test_list_filtered(client, flows, query, expected):
    assert pairs(client.get(f"/api/v1/interfaces?{query}")) == expected
