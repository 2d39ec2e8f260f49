"""The one family of errors a user can cause and fix.

Bad or incomplete data, a wrong parameter, an unreachable store, missing credentials, a partner
that refuses: each is raised as a :class:`UserError` subclass, in any layer, with a message that
names what to fix. The pipeline maps this family once (``shelfcast.pipeline.factory``) to a step
failure whose description is that message; the CLI prints it without a traceback. Any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """An error the user can fix; its message says what and where, and never holds a secret."""
