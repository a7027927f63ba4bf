"""What every list page of the panels shares: page and page-size parameters, and the streamed CSV export."""

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse

from arrears.core.downloads import attachment_disposition
from arrears.core.money import format_amount

PAGE_SIZES = (25, 50, 100)
CSV_CHUNK = 2000  # rows a CSV export reads from the database at a time


def page_number(request) -> int:
    """``?page=`` as a page number; anything else is the first page."""
    try:
        return max(1, int(request.GET.get("page", 1)))
    except ValueError:
        return 1


def page_size(request) -> int:
    """``?per_page=`` if it is one of ``PAGE_SIZES``, else the smallest."""
    try:
        size = int(request.GET.get("per_page", PAGE_SIZES[0]))
    except ValueError:
        return PAGE_SIZES[0]
    return size if size in PAGE_SIZES else PAGE_SIZES[0]


class _Echo:
    """A file-like object whose ``write`` hands back the line, so that csv.writer yields instead of buffering."""

    def write(self, value):
        return value


def csv_response(header: list[str], rows: Iterable[list], filename: str) -> StreamingHttpResponse:
    """``rows`` (an iterator, e.g. over ``values_list(...).iterator()``) streamed as CSV, line by line: memory
    stays flat however many rows the filtered list has."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = attachment_disposition(filename)
    return response


def csv_amount(minor: int | None, currency: str | None) -> str:
    """Minor units as the plain decimal a spreadsheet reads ("1234.50"), empty when there is none."""
    return format_amount(minor, currency) if minor is not None and currency else ""


def csv_date(value) -> str:
    return value.isoformat() if value else ""
