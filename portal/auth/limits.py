"""How many failures are tolerated before sign-in or a token is refused for a while.

Each failure counts against the client address and against the account (or the token's public id),
so that neither spreading guesses over accounts nor over addresses gets around the limit.
"""

from __future__ import annotations

from portal.core.ratelimit import RateLimit

LOGIN_PER_ACCOUNT = RateLimit("login-account", limit=5, window_seconds=15 * 60)
LOGIN_PER_ADDRESS = RateLimit("login-address", limit=20, window_seconds=15 * 60)
TOKEN_PER_ADDRESS = RateLimit("token-address", limit=20, window_seconds=5 * 60)
TOKEN_PER_PREFIX = RateLimit("token-prefix", limit=10, window_seconds=5 * 60)
