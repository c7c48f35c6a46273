"""The bounds of the event contracts' fields: one definition for producers, the gateway and processors.

A value one side accepts and the other refuses vanishes between them (a frame
the gateway took and the processor dead-letters with no session), so every
reader and writer of a field imports its bound from here.
"""

from __future__ import annotations

# Integers are non-negative and at most 2**53: exact in a double, so JSON readers
# in any language read them unchanged. Inclusive, as the event decoders have it.
MAX_INT = 2**53
# Capture times (ms since the epoch), in the gateway's frame messages and the frame headers:
# JavaScript's Number.MAX_SAFE_INTEGER, the largest the web client's clock can state exactly.
MAX_CAPTURED_AT_MS = 2**53 - 1
# Frame sequence numbers fit a signed 32-bit integer (the gateway's wire format has 4 bytes).
MAX_SEQ = 2**31 - 1
MAX_ID_CHARS = 256
# One frame record (JPEG bytes plus headers): the frames topic's ``max.message.bytes`` and the
# publisher's largest request. The processor's and the gateway's own frame limits are below it.
MAX_FRAME_RECORD_BYTES = 2 * 1024 * 1024
