// From what happened to what to say: pure functions from the gateway's feedback, decisions,
// close codes and camera errors to keys of the strings table. The page never decides anything:
// it shows what the server's feedback says (plus the scene's brightness, measured here).

import { format } from "./strings.js";

// Mean luma (0-255) under which the picture is too dark for the face landmarks to be
// reliable; a lit face indoors measures 90-140, a room lit only by a screen 20-40.
export const DARK_LUMA = 55;

/** The hint key of one feedback message; a dark picture overrides the server's hint. */
export function hintKey(feedback, luma) {
  if (luma !== null && luma !== undefined && luma < DARK_LUMA) return "too_dark";
  return feedback.hint || "no_face";
}

/** The sentence of a hint, prefixed with "Box 2 of 3" while a sequence is under way. */
export function hintText(strings, key, feedback) {
  const text = strings[key] || "";
  return feedback && feedback.steps > 1 && key !== "too_dark" ? `${progressText(strings, feedback)} · ${text}` : text;
}

/** "Box 2 of 3" while a sequence is under way. */
export function progressText(strings, feedback) {
  return format(strings.step, { n: feedback.step + 1, m: feedback.steps });
}

/** Title and sentence of a decision: one human sentence per reason code. */
export function decisionText(strings, decision) {
  const passed = decision.outcome === "pass";
  return {
    passed,
    title: passed ? strings.passed_title : strings.failed_title,
    text: passed ? strings.passed_text : strings[decision.reason] || strings.unknown_reason,
  };
}

/** The kind of problem a stream close without a decision means (1000 without one: poll). */
export function closeKind(code) {
  if (code === 1000) return "failed"; // closed normally, yet no decision reached the page
  if (code === 4410) return "expired";
  if (code === 1013) return "busy";
  if (code >= 4000) return "failed"; // a refusal: the client or the session was wrong
  return "lost"; // 1001 going away, 1006 dropped, 1011/1012 server trouble
}

/** The kind of problem a getUserMedia error means. */
export function cameraErrorKind(error) {
  const name = error && error.name;
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") return "camera-denied";
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") return "camera-missing";
  if (name === "NotReadableError" || name === "AbortError" || name === "TrackStartError") return "camera-busy";
  return "camera-failed";
}

/** The strings-table keys of a problem's title and text. */
export function problemKeys(kind) {
  const stem = kind.replace("-", "_");
  if (kind === "failed") return { title: "failed_title_error", text: "failed_text" };
  return { title: `${stem}_title`, text: `${stem}_text` };
}
