// The overlay over the mirrored preview. Every shape the server describes is in the
// coordinates of the frames sent (not mirrored); the preview is mirrored, so each one
// goes through mirrorBox/mirrorPoint once, here, and nowhere else.

/** A box {left, top, width, height} of the sent frame, as it appears in the mirrored preview. */
export function mirrorBox(box, imageWidth) {
  return { left: imageWidth - box.left - box.width, top: box.top, width: box.width, height: box.height };
}

/** A point [x, y] of the sent frame, as it appears in the mirrored preview. */
export function mirrorPoint(point, imageWidth) {
  return [imageWidth - point[0], point[1]];
}

/**
 * The frame size to ask for: the camera's real aspect ratio, its long side scaled down to at most
 * maxSide, and never under the gateway's minimum side (a tiny camera is scaled up rather than refused).
 */
export function frameSize(videoWidth, videoHeight, maxSide, minSide = 120) {
  let scale = Math.min(1, maxSide / Math.max(videoWidth, videoHeight));
  scale = Math.max(scale, minSide / Math.min(videoWidth, videoHeight));
  const even = (value) => 2 * Math.round((value * scale) / 2); // even sides: JPEG 4:2:0 blocks
  return { width: Math.min(even(videoWidth), 1280), height: Math.min(even(videoHeight), 1280) };
}

/** Draw the challenge (area box, the current nose target) and the last feedback (face box, nose) on the canvas. */
export function drawOverlay(canvas, challenge, feedback) {
  const ctx = canvas.getContext("2d");
  const w = challenge.image_width;
  canvas.width = w;
  canvas.height = challenge.image_height;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const framed = feedback && feedback.in_area;
  // Dim everything outside the area box, so the shape to fill is clear at a glance.
  const area = mirrorBox(challenge.area, w);
  ctx.fillStyle = "rgba(0,0,0,0.45)";
  ctx.beginPath();
  ctx.rect(0, 0, canvas.width, canvas.height);
  ctx.rect(area.left, area.top, area.width, area.height);
  ctx.fill("evenodd");
  strokeBox(ctx, mirrorBox(challenge.area, w), framed ? "#34a853" : "#ffffff", 3, [12, 8]);
  const targets = challenge.targets || (challenge.nose ? [challenge.nose] : []);
  const step = Math.min(feedback && feedback.step !== undefined ? feedback.step : 0, targets.length - 1);
  // Reached targets stay as small green marks; only the current one is shown as a box to reach,
  // so the person follows one instruction at a time.
  targets.slice(0, Math.max(step, 0)).forEach((box) => {
    const [x, y] = mirrorPoint([box.left + box.width / 2, box.top + box.height / 2], w);
    ctx.fillStyle = "rgba(52,168,83,0.8)";
    ctx.beginPath();
    ctx.arc(x, y, 4, 0, 2 * Math.PI);
    ctx.fill();
  });
  if (step >= 0) {
    const target = mirrorBox(targets[step], w);
    const reached = feedback && feedback.nose_in_target;
    ctx.fillStyle = reached ? "rgba(52,168,83,0.55)" : "rgba(251,188,4,0.45)";
    ctx.fillRect(target.left, target.top, target.width, target.height);
    strokeBox(ctx, target, reached ? "#34a853" : "#fbbc04", 3, []);
  }
  if (feedback && feedback.face_box) {
    strokeBox(ctx, mirrorBox(feedback.face_box, w), "rgba(255,255,255,0.5)", 1, [4, 4]);
  }
  if (feedback && feedback.nose) {
    const [x, y] = mirrorPoint(feedback.nose, w);
    ctx.fillStyle = "#1a73e8";
    ctx.beginPath();
    ctx.arc(x, y, 5, 0, 2 * Math.PI);
    ctx.fill();
  }
}

function strokeBox(ctx, box, colour, lineWidth, dash) {
  ctx.strokeStyle = colour;
  ctx.lineWidth = lineWidth;
  ctx.setLineDash(dash);
  ctx.strokeRect(box.left, box.top, box.width, box.height);
  ctx.setLineDash([]);
}
