// Short sentences for the gateway's hint codes and decisions. The page never decides anything:
// it shows what the server's feedback says.

const HINTS = {
  unreadable: "The camera picture could not be read",
  no_face: "We can't see your face",
  one_face: "Only one face please",
  move_back: "Move back a little",
  centre_face: "Put your face inside the frame",
  move_closer: "Move closer",
  nose_to_target: "Move your nose into the box",
  hold_still: "Hold still…",
};

const REASONS = {
  PASSED: "You passed the check.",
  NO_FACE: "We could not see a face.",
  MULTIPLE_FACES: "More than one face was seen.",
  FACE_OUT_OF_AREA: "Your face left the frame.",
  FACE_TOO_SMALL: "Your face was too far from the camera.",
  TIMEOUT: "The time ran out.",
  NO_ROTATION: "Turn your head, not just move it.",
  WRONG_DIRECTION: "Your head turned the wrong way.",
  PLANAR_MOTION: "The movement did not look like a real head.",
  TRAJECTORY_IRREGULAR: "The movement was not smooth.",
  DISCONTINUITY: "The picture jumped.",
  EXPIRED: "The session expired.",
  LIMIT_EXCEEDED: "The session took too long.",
  ENDED_BY_CLIENT: "The session ended early.",
  IDENTITY_CHANGED: "The same person must stay in front of the camera.",
  CLOCK_SKEW: "Your device's clock is off.",
  SEQUENCE_GAP: "Too many camera pictures were lost.",
  BAD_TOKEN: "The session was not valid.",
  NO_BLINK: "No blink was seen.",
};

/** The instruction for a challenge, shown before any feedback arrives. */
export function challengeText(challenge) {
  if (challenge.type === "nose") return "Put your face in the frame, then move your nose into the box";
  if (challenge.type === "nose_sequence") {
    return `Put your face in the frame, then move your nose into each of ${challenge.targets.length} boxes as it appears`;
  }
  if (challenge.type === "turn") return `Turn your head: ${challenge.sequence.join(", then ")}`;
  if (challenge.type === "blink") return `Blink ${challenge.blinks} times`;
  return "Follow the instructions";
}

/** The sentence for one feedback message of the gateway. */
export function hintText(feedback, challenge) {
  if (feedback.hint === "follow_challenge") return challengeText(challenge);
  const text = HINTS[feedback.hint] || "";
  return feedback.steps > 1 ? `${progressText(feedback)} · ${text}` : text;
}

/** "Box 2 of 3" while a sequence is under way. */
export function progressText(feedback) {
  return `Box ${feedback.step + 1} of ${feedback.steps}`;
}

/** Headline and detail of a decision. */
export function decisionText(decision) {
  const passed = decision.outcome === "pass";
  return {
    passed,
    headline: passed ? "✓ Passed" : "✗ Not passed",
    detail: REASONS[decision.reason] || decision.reason,
  };
}

/** What to tell the person when the stream closed without a decision. */
export function closeText(code, reason) {
  if (code === 1013) return "The service is busy. Please try again in a moment.";
  if (code === 4410) return "The session expired. Please start again.";
  return reason ? `Stopped: ${reason}` : "The connection was lost. Please start again.";
}
