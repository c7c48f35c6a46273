"""The verifier core driven in one process, as the streaming shell drives it, with no topics between.

Offline replays and evaluations apply events through ``InProcessVerifier``: the identity
requests an event gives rise to are answered at once (as a fast identity stage would), the
shell's rule for when a session's silence counts applies, and a recording that ends
undecided is settled as the client's end, then the silence after it, would settle it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from schemas.codec import VerifierInput
from schemas.events import Decision, IdentityRequest, IdentitySample, SessionEnded, SessionTick
from verifier.session import Outcome, Session, Verifier


@dataclass
class InProcessVerifier:
    """The core, with the identity stage's answer as a function and the time it began hearing sessions."""

    verifier: Verifier
    answer: Callable[[IdentityRequest], IdentitySample]
    owned_since_ms: int = 0  # the streaming shell's: when its partitions were assigned

    def apply(self, session: Session | None, event: VerifierInput, at_ms: int) -> Outcome:
        """Apply one event, then the answers to the identity requests it raised, in order."""
        heard = self.verifier.heard_since(session, self.owned_since_ms)
        outcome = self.verifier.handle(heard, event, at_ms)
        for request in outcome.identity_requests:
            outcome = self.apply(outcome.session, self.answer(request), at_ms)
        return outcome

    def finish(self, outcome: Outcome, last_seq: int, at_ms: int) -> Decision:
        """The decision once the client said its last frame was ``last_seq`` at ``at_ms``.

        A session its frames did not decide is settled by the end; one still open after it
        (every frame missing, or none sent) is settled as the verifier's clock would settle it.
        """
        if outcome.decision is None:
            session_id = outcome.session.session_id
            outcome = self.apply(outcome.session, SessionEnded(session_id, at_ms, last_seq), at_ms)
        if outcome.decision is None:
            session = outcome.session
            settle_ms = max(self.verifier.silent_after_ms(session), session.expires_at_ms) + 1
            outcome = self.apply(session, SessionTick(session.session_id, settle_ms), settle_ms)
        assert outcome.decision is not None
        return outcome.decision
