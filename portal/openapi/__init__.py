"""The OpenAPI 3.1 document of `/api/v1` and the readable page generated from it.

It reads the enumerations, limits and field lists of every feature, so it sits beside them rather than in `core/`.
"""
