import pytest

from gateway.store.dates import MAX_INSTANT, date_range, parse_search_date, period_range
from mappings.issues import IssueError


@pytest.mark.parametrize(
    ("value", "low", "high"),
    [
        ("2024", "2024-01-01T00:00:00.000000Z", "2024-12-31T23:59:59.999999Z"),
        ("2024-02", "2024-02-01T00:00:00.000000Z", "2024-02-29T23:59:59.999999Z"),
        ("2023-02", "2023-02-01T00:00:00.000000Z", "2023-02-28T23:59:59.999999Z"),
        ("2024-03-05", "2024-03-05T00:00:00.000000Z", "2024-03-05T23:59:59.999999Z"),
        ("2024-03-05T10:00:00+01:00", "2024-03-05T09:00:00.000000Z", "2024-03-05T09:00:00.999999Z"),
        ("2024-03-05T10:00:00.5Z", "2024-03-05T10:00:00.500000Z", "2024-03-05T10:00:00.599999Z"),
        ("2024-03-05T10:00", "2024-03-05T10:00:00.000000Z", "2024-03-05T10:00:59.999999Z"),
    ],
)
def test_date_precision_gives_the_whole_range(value: str, low: str, high: str) -> None:
    assert date_range(value) == (low, high)


@pytest.mark.parametrize("value", ["2024-13", "24-01-01", "2024-02-30", "yesterday", "2024-01-01T25:00"])
def test_non_dates_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        date_range(value)


def test_open_period_runs_to_the_end_of_time() -> None:
    assert period_range({"start": "2024-01-01"}) == ("2024-01-01T00:00:00.000000Z", MAX_INSTANT)
    assert period_range({}) is None


def test_search_date_prefix_is_split_and_bad_dates_name_the_parameter() -> None:
    assert parse_search_date("ge2024", parameter="date")[0] == "ge"
    assert parse_search_date("2024", parameter="date")[0] == "eq"
    with pytest.raises(IssueError) as caught:
        parse_search_date("gtnever", parameter="date")
    assert caught.value.issues[0].expression == "date"
