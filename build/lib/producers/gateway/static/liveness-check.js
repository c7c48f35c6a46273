// <liveness-check>: the embeddable web client. A dependency-free Web Component served by the
// gateway as an ES module, for the gateway's own page and for a platform's page on another origin.
//
//   <script type="module" src="https://GATEWAY/static/liveness-check.js"></script>
//   <liveness-check lang="es" camera="user"></liveness-check>
//
// Attributes: lang (en, es), camera (user | environment), gateway (base URL; default: where this
// module was loaded from), fps, time-limit-s. Properties: strings (overrides of the strings
// table), sessionProvider (async ({image_width, image_height}) => session, for a session that the
// platform's backend created; default: POST /sessions on the gateway), cameraConstraints, stats.
// Events (bubbling, composed): liveness-progress {state, step, steps, hint, sessionId},
// liveness-decided {decision, sessionId} with the decision exactly as received, liveness-error
// {code, message, sessionId, closeCode}. Look: the --liveness-* custom properties, ::part().
//
// It decides nothing: the server draws the challenge and the verifier decides.

import { cameraErrorKind, closeKind, decisionText, hintKey, hintText, problemKeys, progressText } from "./guide.js";
import { drawOverlay, frameSize } from "./overlay.js";
import { SessionRun } from "./run.js";
import { stringsFor } from "./strings.js";
import { sheet } from "./styles.js";

const GATEWAY = new URL("..", import.meta.url).href; // the module is served at GATEWAY/static/
const DEFAULTS = { fps: 10, timeLimitS: 25, jpegQuality: 0.8, maxSide: 640, pollForS: 30 };

const TEMPLATE = `
<section class="card" part="card">
  <div class="screen start" data-screen="start">
    <h2 tabindex="-1" data-s="title"></h2>
    <p data-s="intro"></p>
    <ul class="facts">
      <li data-s="how"></li>
      <li data-s="duration"></li>
      <li data-s="privacy"></li>
      <li data-s="camera_note"></li>
    </ul>
    <button type="button" id="start" part="button start-button" data-s="start"></button>
  </div>
  <div class="screen live" data-screen="live" hidden>
    <div class="stage" part="stage" id="stage" role="img" data-s-label="preview">
      <video id="video" autoplay playsinline muted aria-hidden="true"></video>
      <canvas id="overlay" aria-hidden="true"></canvas>
    </div>
    <div class="panel">
      <div class="progress" id="progress" role="progressbar" aria-valuemin="0" data-s-label="progress" hidden></div>
      <p class="hint" id="hint" role="status" aria-live="polite" aria-atomic="true" part="hint"></p>
    </div>
  </div>
  <div class="screen outcome" data-screen="result" id="result" hidden>
    <div class="badge" id="badge" aria-hidden="true"></div>
    <h2 tabindex="-1" id="result-title"></h2>
    <p id="result-text"></p>
    <button type="button" id="retry" part="button retry-button" data-s="retry"></button>
  </div>
  <div class="screen outcome problem" data-screen="problem" id="problem" role="alert" hidden>
    <div class="badge" aria-hidden="true">!</div>
    <h2 tabindex="-1" id="problem-title"></h2>
    <p id="problem-text"></p>
    <button type="button" id="problem-retry" part="button retry-button" data-s="retry"></button>
  </div>
</section>`;

const SCREEN_OF_STATE = { start: "start", decided: "result", error: "problem" }; // every other state: live

function freshStats() {
  return {
    state: "start", sessionId: null, challenge: null, framesSent: 0, lastFrameSentAt: null, endSentAt: null,
    decisionShownAt: null, decision: null, closeCode: null, closeReason: null, feedbackMs: [], sentAt: [],
    step: 0, steps: 0, hint: null, brightness: null, error: null, announcements: [],
  };
}

export class LivenessCheck extends HTMLElement {
  static observedAttributes = ["lang"];

  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    root.adoptedStyleSheets = [sheet];
    root.innerHTML = TEMPLATE;
    this.$ = (id) => root.getElementById(id);
    this.stats = freshStats(); // mutated in place: the gateway page exposes it as window.liveness
    this.overrides = {};
    this.sessionProvider = null;
    this.cameraConstraints = {};
    this.$("start").addEventListener("click", () => this.start());
    this.$("retry").addEventListener("click", () => this.start());
    this.$("problem-retry").addEventListener("click", () => this.start());
  }

  /** Overrides of the strings table (any key of strings.js); applied at once. */
  set strings(overrides) {
    this.overrides = overrides || {};
    this.applyStrings();
  }

  get strings() {
    return stringsFor(this.language, this.overrides);
  }

  get language() {
    const holder = this.closest("[lang]");
    return (holder && holder.getAttribute("lang")) || navigator.language || "en";
  }

  get gateway() {
    return new URL(this.getAttribute("gateway") || GATEWAY, document.baseURI).href;
  }

  option(name, fallback) {
    const value = Number(this.getAttribute(name));
    return Number.isFinite(value) && value > 0 ? value : fallback;
  }

  connectedCallback() {
    this.applyStrings();
    this.setState(this.stats.state);
  }

  disconnectedCallback() {
    if (this.run) this.run.cancel();
    this.stopCamera();
  }

  attributeChangedCallback() {
    this.applyStrings();
  }

  applyStrings() {
    const strings = this.strings;
    const root = this.shadowRoot;
    root.querySelector(".card").lang = this.language;
    root.querySelectorAll("[data-s]").forEach((node) => (node.textContent = strings[node.dataset.s]));
    root.querySelectorAll("[data-s-label]").forEach((node) => node.setAttribute("aria-label", strings[node.dataset.sLabel]));
  }

  // ---- the flow -------------------------------------------------------------------------------

  /** Start (or start again): camera, a new session, the stream. */
  async start() {
    if (this.run) this.run.cancel();
    Object.assign(this.stats, freshStats());
    this.lastLuma = null;
    this.$("progress").hidden = true;
    this.setState("camera", this.strings.camera_starting);
    try {
      await this.openCamera();
    } catch (error) {
      return this.problem(cameraErrorKind(error), String(error.message || error.name));
    }
    this.setState("connecting", this.strings.connecting);
    const video = this.$("video");
    const size = frameSize(video.videoWidth, video.videoHeight, DEFAULTS.maxSide);
    let session;
    try {
      session = await this.createSession({ image_width: size.width, image_height: size.height });
    } catch (error) {
      return this.problem(error.kind || "failed", String(error.message));
    }
    this.stream(session);
  }

  async openCamera() {
    const video = this.$("video");
    if (this.media && this.media.active) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw Object.assign(new Error("no camera API: not a secure origin"), { name: "NotSupportedError" });
    }
    this.media = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: {
        facingMode: this.getAttribute("camera") || "user",
        width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 15 },
        ...this.cameraConstraints,
      },
    });
    video.srcObject = this.media;
    await video.play();
    while (!video.videoWidth) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  stopCamera() {
    if (this.media) this.media.getTracks().forEach((track) => track.stop());
    this.media = null;
    this.$("video").srcObject = null;
  }

  async createSession(size) {
    if (this.sessionProvider) return checkedSession(await this.sessionProvider(size));
    const response = await fetch(new URL("sessions", this.gateway), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(size),
    });
    if (!response.ok) {
      const kind = response.status === 503 ? "busy" : "failed";
      throw Object.assign(new Error(`could not start a session (${response.status})`), { kind });
    }
    return checkedSession(await response.json());
  }

  stream(session) {
    const { challenge } = session;
    Object.assign(this.stats, { sessionId: session.session_id, challenge });
    this.$("stage").style.aspectRatio = `${challenge.image_width} / ${challenge.image_height}`;
    drawOverlay(this.$("overlay"), challenge, null);
    const options = {
      gateway: this.gateway, stats: this.stats, jpegQuality: DEFAULTS.jpegQuality, pollForS: DEFAULTS.pollForS,
      fps: this.option("fps", DEFAULTS.fps), timeLimitS: this.option("time-limit-s", DEFAULTS.timeLimitS),
    };
    this.run = new SessionRun(session, this.$("video"), options, {
      onOpen: () => this.setState("framing", this.strings.centre_face),
      onFrame: (seq, luma) => this.onFrame(luma),
      onFeedback: (feedback) => this.onFeedback(feedback),
      onEnd: () => this.setState("checking", this.strings.checking),
      onDecision: (decision) => this.decided(decision),
      onProblem: ({ code, reason }) => this.problem(closeKind(code), reason, code),
    });
    this.run.start();
  }

  onFrame(luma) {
    this.stats.brightness = this.lastLuma = luma;
    // Before any feedback (and between two), a dark picture is said at once, from the page's own measure.
    if (hintKey({}, luma) === "too_dark" && this.stats.hint !== "too_dark") this.hint("too_dark", this.lastFeedback);
  }

  onFeedback(feedback) {
    if (this.run && this.run.ended) return;
    this.lastFeedback = feedback;
    if (feedback.steps) Object.assign(this.stats, { step: feedback.step, steps: feedback.steps });
    drawOverlay(this.$("overlay"), this.stats.challenge, feedback);
    this.showProgress(feedback);
    this.hint(hintKey(feedback, this.lastLuma), feedback);
  }

  hint(key, feedback) {
    const state = key === "hold_still" ? "hold" : feedback && feedback.steps ? "challenge" : "framing";
    this.stats.hint = key;
    this.setState(state, hintText(this.strings, key, feedback));
  }

  showProgress(feedback) {
    const bar = this.$("progress");
    if (!feedback.steps) return;
    if (bar.children.length !== feedback.steps) {
      bar.replaceChildren(...Array.from({ length: feedback.steps }, () => document.createElement("span")));
    }
    [...bar.children].forEach((span, index) => {
      span.className = index < feedback.step ? "done" : index === feedback.step ? "current" : "";
    });
    bar.setAttribute("aria-valuemax", String(feedback.steps));
    bar.setAttribute("aria-valuenow", String(feedback.step));
    bar.setAttribute("aria-valuetext", progressText(this.strings, feedback));
    bar.hidden = false;
  }

  decided(decision) {
    this.stopCamera();
    const { passed, title, text } = decisionText(this.strings, decision);
    this.$("result").className = `screen outcome ${passed ? "pass" : "fail"}`;
    this.$("badge").textContent = passed ? "✓" : "✗";
    this.$("result-title").textContent = title;
    this.$("result-text").textContent = text;
    this.$("retry").hidden = passed; // a pass is final; a fail may be tried again with a new session
    Object.assign(this.stats, { decision, decisionShownAt: performance.now() });
    this.setState("decided");
    this.$("result-title").focus();
    this.emit("liveness-decided", { decision, sessionId: this.stats.sessionId });
  }

  problem(kind, message, closeCode = null) {
    if (this.run) this.run.cancel();
    this.stopCamera();
    const strings = this.strings;
    const keys = problemKeys(kind);
    this.$("problem-title").textContent = strings[keys.title];
    this.$("problem-text").textContent = strings[keys.text];
    this.stats.error = kind;
    this.setState("error");
    this.$("problem-title").focus();
    this.emit("liveness-error", { code: kind, message, sessionId: this.stats.sessionId, closeCode });
  }

  // ---- state, announcements, events -----------------------------------------------------------

  setState(state, hint) {
    const changed = state !== this.stats.state;
    this.stats.state = state;
    this.dataset.state = state;
    const screen = SCREEN_OF_STATE[state] || "live";
    this.shadowRoot.querySelectorAll("[data-screen]").forEach((node) => (node.hidden = node.dataset.screen !== screen));
    const said = hint !== undefined && this.say(hint);
    if (changed || said) {
      const { step, steps } = this.stats;
      this.emit("liveness-progress", { state, step, steps, hint: this.stats.hint, sessionId: this.stats.sessionId });
    }
  }

  /** Put a sentence in the aria-live region, only when it changes (10 feedbacks a second would drown a screen reader). */
  say(text) {
    const region = this.$("hint");
    if (region.textContent === text) return false;
    region.textContent = text;
    this.stats.announcements.push(text);
    return true;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }
}

/** A session as POST /sessions answers it; a platform's backend passes the same fields on. */
function checkedSession(session) {
  const missing = ["session_id", "token", "stream", "challenge"].filter((key) => !session || !session[key]);
  if (missing.length) throw Object.assign(new Error(`the session lacks ${missing.join(", ")}`), { kind: "failed" });
  return session;
}

if (!customElements.get("liveness-check")) customElements.define("liveness-check", LivenessCheck);
