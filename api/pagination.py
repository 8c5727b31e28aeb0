"""One page size for the whole API, which a client may lower or raise up to a cap."""

from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    # A cap, so that one request cannot ask for a whole table.
    max_page_size = 200
