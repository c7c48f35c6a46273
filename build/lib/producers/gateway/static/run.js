// One session's stream: frames out at a steady pace within the gateway's limits, feedback and the
// decision in. It knows nothing of the screen: it reports to the callbacks it is given.

import { FrameGrabber, frameMessage, streamUrl } from "./stream.js";

const POLL_EVERY_MS = 1000;

/**
 * Streams one session. ``callbacks``: onOpen(), onFrame(seq, luma), onFeedback(message),
 * onEnd(), onDecision(decision), onProblem({code, reason}).
 */
export class SessionRun {
  constructor(session, video, options, callbacks) {
    this.session = session;
    this.challenge = session.challenge;
    this.options = options; // {gateway, fps, timeLimitS, jpegQuality, pollForS, stats}
    this.callbacks = callbacks;
    this.stats = options.stats;
    const limits = session.limits || {};
    const { image_width: w, image_height: h } = this.challenge;
    this.grabber = new FrameGrabber(video, w, h, options.jpegQuality, limits.max_frame_bytes);
    // The gateway's token bucket allows max_fps with a small burst; pacing below it never drops a frame.
    this.periodMs = 1000 / Math.min(options.fps, limits.max_fps || options.fps);
    this.maxFrames = limits.max_frames || 300;
    this.seq = 0;
    this.busy = false;
    this.ended = false;
    this.done = false;
  }

  start() {
    this.ws = new WebSocket(streamUrl(this.options.gateway, this.session.stream, this.session.token));
    this.ws.binaryType = "arraybuffer";
    this.ws.onopen = () => this.onOpen();
    this.ws.onmessage = (event) => this.onMessage(JSON.parse(event.data));
    this.ws.onclose = (event) => this.onClose(event);
  }

  /** Stop for good, without reporting anything (the element was removed or reset). */
  cancel() {
    this.done = true;
    this.ended = true;
    clearTimeout(this.timer);
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, "cancelled");
  }

  onOpen() {
    this.startedAt = performance.now();
    this.dueAt = this.startedAt;
    this.callbacks.onOpen();
    this.schedule();
  }

  // A timer that never catches up in a burst: after a stall (a background tab, a slow encoder)
  // the next frame is due one period after now, so the gateway's rate limit is never hit.
  schedule() {
    if (this.ended) return;
    this.dueAt = Math.max(this.dueAt + this.periodMs, performance.now());
    this.timer = setTimeout(() => this.tick().finally(() => this.schedule()), this.dueAt - performance.now());
  }

  async tick() {
    if (this.ended || this.busy || this.ws.readyState !== WebSocket.OPEN) return;
    const elapsedS = (performance.now() - this.startedAt) / 1000;
    if (this.seq >= this.maxFrames || elapsedS > this.options.timeLimitS) return this.end();
    this.busy = true;
    try {
      const { capturedAtMs, jpeg, luma } = await this.grabber.grab();
      if (this.ended || this.ws.readyState !== WebSocket.OPEN) return;
      this.ws.send(frameMessage(this.seq, capturedAtMs, jpeg));
      const now = performance.now();
      this.stats.sentAt[this.seq] = now;
      this.stats.framesSent = ++this.seq;
      this.stats.lastFrameSentAt = now;
      this.callbacks.onFrame(this.seq - 1, luma);
    } finally {
      this.busy = false;
    }
  }

  /** The last frame was sent: tell the gateway, which publishes the session's end. */
  end() {
    clearTimeout(this.timer);
    if (this.ended) return;
    this.ended = true;
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: "end" }));
      this.stats.endSentAt = performance.now();
    }
    if (!this.done) this.callbacks.onEnd();
  }

  onMessage(message) {
    if (this.done) return;
    if (message.type === "observation") {
      const sent = this.stats.sentAt[message.seq];
      if (sent !== undefined) this.stats.feedbackMs.push(performance.now() - sent);
      return this.callbacks.onFeedback(message);
    }
    if (message.type === "decision") return this.onDecision(message.decision);
  }

  onDecision(decision) {
    if (this.done) return;
    this.done = true;
    this.end();
    this.callbacks.onDecision(decision);
  }

  onClose(event) {
    clearTimeout(this.timer);
    this.ended = true;
    this.stats.closeCode = event.code;
    this.stats.closeReason = event.reason;
    if (this.done) return;
    if (event.code === 1000) return this.poll();
    this.done = true;
    this.callbacks.onProblem({ code: event.code, reason: event.reason });
  }

  // The stream ended before the decision reached it: ask the gateway for it, as a backend would.
  async poll() {
    const url = new URL(`/sessions/${encodeURIComponent(this.session.session_id)}`, this.options.gateway);
    const deadline = performance.now() + this.options.pollForS * 1000;
    while (!this.done && performance.now() < deadline) {
      try {
        const response = await fetch(url);
        const body = response.ok ? await response.json() : { status: "pending" };
        if (body.status === "decided") return this.onDecision(body.decision);
      } catch {
        break; // another origin without access to the poll: the platform's backend polls instead
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_EVERY_MS));
    }
    if (this.done) return;
    this.done = true;
    this.callbacks.onProblem({ code: 1000, reason: "no decision reached the page" });
  }
}
