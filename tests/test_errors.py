"""The status -> exception mapping and error-body parsing, as pure functions."""

from __future__ import annotations

import pytest

from mp_async import errors
from mp_async.errors import ErrorDetail, error_for_status, parse_error_details


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequest),
        (401, errors.Unauthorized),
        (403, errors.Forbidden),
        (404, errors.NotFound),
        (405, errors.APIError),
        (413, errors.PayloadTooLarge),
        (422, errors.UnprocessableEntity),
        (429, errors.RateLimited),
        (500, errors.ServerError),
        (502, errors.ServerError),
        (503, errors.ServerError),
        (504, errors.ServerError),
        (302, errors.UnexpectedResponse),
    ],
)
def test_each_status_maps_to_its_error_class(status: int, cls: type[errors.APIError]) -> None:
    error = error_for_status(status, method="GET", path="/v1/apps", body=b"")
    assert type(error) is cls
    assert error.status == status
    assert isinstance(error, errors.MParticleError)
    assert str(error).startswith(f"GET /v1/apps -> {status}")


def test_error_body_is_parsed_into_details_and_message() -> None:
    body = b'{"errors": [{"code": "LOOKUP_ERROR", "message": "no such user"}, {"code": 7}]}'
    error = error_for_status(404, method="POST", path="/v1/search", body=body)
    assert error.errors == (ErrorDetail("LOOKUP_ERROR", "no such user"), ErrorDetail(7, ""))
    assert "no such user" in str(error)
    assert error.body_excerpt.startswith('{"errors"')


def test_rate_limited_carries_retry_after() -> None:
    error = error_for_status(429, method="GET", path="/p", body=b"", retry_after=12.0)
    assert isinstance(error, errors.RateLimited)
    assert error.retry_after == 12.0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", ()),
        (b"<html>bad gateway</html>", ()),
        (b'["a"]', ()),
        (b'{"errors": "oops"}', ()),
        (b'{"errors": {"code": "X", "message": "single"}}', (ErrorDetail("X", "single"),)),
        (b'{"message": "Unauthorized"}', (ErrorDetail(None, "Unauthorized"),)),
        (
            b'{"code": "INVALID_KEY", "message": "bad key"}',
            (ErrorDetail("INVALID_KEY", "bad key"),),
        ),
        (b'{"code": 4001}', (ErrorDetail(4001, ""),)),
        (b'{"errors": ["plain"]}', (ErrorDetail(None, "plain"),)),
        (
            b'{"errors": [{"code": {"x": 1}, "message": "odd code"}]}',
            (ErrorDetail(None, "odd code"),),
        ),
    ],
)
def test_error_details_tolerate_any_body(body: bytes, expected: tuple[ErrorDetail, ...]) -> None:
    assert parse_error_details(body) == expected


def test_body_excerpt_is_short() -> None:
    error = error_for_status(500, method="GET", path="/p", body=b"x" * 100_000)
    assert len(error.body_excerpt) <= errors.EXCERPT_CHARS + 1
    assert len(str(error)) < 400


def test_invalid_request_is_also_a_value_error() -> None:
    assert issubclass(errors.InvalidRequest, ValueError)
    assert issubclass(errors.NoUserMatched, errors.NotFound)
