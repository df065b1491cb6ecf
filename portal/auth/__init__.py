"""Sign-in (single sign-on and local accounts), sessions, API tokens, and the access checks on every request."""
