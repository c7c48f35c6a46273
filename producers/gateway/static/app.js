// The web client: camera, session, frame stream, live guidance, result. It decides nothing:
// the server draws the challenge and the verifier decides; this page shows and sends.

import { closeText, challengeText, decisionText, hintText } from "./guide.js";
import { drawOverlay, frameSize } from "./overlay.js";
import { FrameGrabber, frameMessage, streamUrl } from "./stream.js";

const params = new URLSearchParams(location.search);
const SETTINGS = {
  fps: Number(params.get("fps")) || 10,
  timeLimitS: Number(params.get("time_limit_s")) || 25,
  jpegQuality: 0.8,
  maxSide: 640,
  pollForS: 30,
};

// What happened, for people debugging and for the end-to-end test (times from performance.now()).
const stats = (window.liveness = {
  state: "idle", sessionId: null, challenge: null, framesSent: 0, lastFrameSentAt: null, endSentAt: null,
  decisionShownAt: null, decision: null, closeCode: null, closeReason: null, feedbackMs: [], sentAt: [],
  step: 0, steps: 0,
});

const $ = (id) => document.getElementById(id);

function setState(state) {
  stats.state = state;
  document.body.dataset.state = state;
}

function showHint(text) {
  $("hint").textContent = text;
}

async function openCamera(video) {
  const media = await navigator.mediaDevices.getUserMedia({
    audio: false,
    video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 15 } },
  });
  video.srcObject = media;
  await video.play();
  while (!video.videoWidth) await new Promise((resolve) => setTimeout(resolve, 20));
  return media;
}

async function createSession(size) {
  const response = await fetch("/sessions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ image_width: size.width, image_height: size.height }),
  });
  if (!response.ok) throw new Error(`could not start a session (${response.status})`);
  return response.json();
}

class Run {
  constructor(session, video) {
    this.session = session;
    this.challenge = session.challenge;
    this.video = video;
    this.overlay = $("overlay");
    const { image_width: w, image_height: h } = this.challenge;
    this.grabber = new FrameGrabber(video, w, h, SETTINGS.jpegQuality);
    this.fps = Math.min(SETTINGS.fps, session.limits.max_fps);
    this.maxFrames = session.limits.max_frames;
    this.seq = 0;
    this.busy = false;
    this.ended = false;
    this.decided = false;
    $("stage").style.aspectRatio = `${w} / ${h}`;
  }

  start() {
    drawOverlay(this.overlay, this.challenge, null);
    showHint(challengeText(this.challenge));
    this.ws = new WebSocket(streamUrl(location, this.session.stream, this.session.token));
    this.ws.binaryType = "arraybuffer";
    this.ws.onopen = () => this.onOpen();
    this.ws.onmessage = (event) => this.onMessage(JSON.parse(event.data));
    this.ws.onclose = (event) => this.onClose(event);
  }

  onOpen() {
    setState("streaming");
    this.startedAt = performance.now();
    this.timer = setInterval(() => this.tick(), 1000 / this.fps);
  }

  async tick() {
    if (this.ended || this.busy || this.ws.readyState !== WebSocket.OPEN) return;
    const elapsedS = (performance.now() - this.startedAt) / 1000;
    if (this.seq >= this.maxFrames || elapsedS > SETTINGS.timeLimitS) return this.end();
    this.busy = true; // a slow encoder skips ticks instead of queueing frames
    try {
      const { capturedAtMs, jpeg } = await this.grabber.grab();
      if (this.ended || this.ws.readyState !== WebSocket.OPEN) return;
      this.ws.send(frameMessage(this.seq, capturedAtMs, jpeg));
      const now = performance.now();
      stats.sentAt[this.seq] = now;
      stats.framesSent = ++this.seq;
      stats.lastFrameSentAt = now;
    } finally {
      this.busy = false;
    }
  }

  end() {
    clearInterval(this.timer);
    if (this.ended) return;
    this.ended = true;
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: "end" }));
      stats.endSentAt = performance.now();
      setState("waiting");
      showHint("Checking…");
    }
  }

  onMessage(message) {
    if (message.type === "observation") return this.onObservation(message);
    if (message.type === "decision") return this.onDecision(message.decision);
  }

  onObservation(feedback) {
    const sent = stats.sentAt[feedback.seq];
    if (sent !== undefined) stats.feedbackMs.push(performance.now() - sent);
    if (this.decided) return;
    if (feedback.steps) Object.assign(stats, { step: feedback.step, steps: feedback.steps });
    drawOverlay(this.overlay, this.challenge, feedback);
    if (!this.ended) showHint(hintText(feedback, this.challenge));
  }

  onDecision(decision) {
    if (this.decided) return;
    this.decided = true;
    this.end();
    showResult(decision);
  }

  onClose(event) {
    clearInterval(this.timer);
    this.ended = true;
    stats.closeCode = event.code;
    stats.closeReason = event.reason;
    if (this.decided) return;
    if (event.code === 1000) return this.poll();
    setState("error");
    showHint(closeText(event.code, event.reason));
    $("start").hidden = false;
  }

  // The stream ended before the decision reached it: ask for it, as a backend would.
  async poll() {
    const deadline = performance.now() + SETTINGS.pollForS * 1000;
    while (performance.now() < deadline) {
      const response = await fetch(`/sessions/${this.session.session_id}`);
      const body = response.ok ? await response.json() : { status: "pending" };
      if (body.status === "decided") return this.onDecision(body.decision);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    setState("error");
    showHint("No result yet. Please try again.");
  }
}

function showResult(decision) {
  const { passed, headline, detail } = decisionText(decision);
  const result = $("result");
  result.className = `result ${passed ? "pass" : "fail"}`;
  result.replaceChildren(headline, Object.assign(document.createElement("small"), { textContent: detail }));
  result.hidden = false;
  showHint("");
  stats.decision = decision;
  stats.decisionShownAt = performance.now();
  setState("decided");
  $("start").hidden = false;
  $("start").textContent = "Try again";
}

let camera = null;

async function start() {
  $("start").hidden = true;
  $("result").hidden = true;
  $("intro").hidden = true;
  $("stage").hidden = false;
  Object.assign(stats, {
    framesSent: 0, lastFrameSentAt: null, endSentAt: null, decisionShownAt: null, decision: null,
    feedbackMs: [], sentAt: [], step: 0, steps: 0,
  });
  try {
    setState("camera");
    showHint("Starting the camera…");
    const video = $("video");
    camera = camera || (await openCamera(video));
    const session = await createSession(frameSize(video.videoWidth, video.videoHeight, SETTINGS.maxSide));
    stats.sessionId = session.session_id;
    stats.challenge = session.challenge;
    new Run(session, video).start();
  } catch (error) {
    setState("error");
    showHint(error.name === "NotAllowedError" ? "Please allow the camera to take the check" : String(error.message));
    $("start").hidden = false;
  }
}

$("start").addEventListener("click", start);
setState("idle");
