// The component's look, as a constructed style sheet: it needs no inline <style> (the gateway's
// Content-Security-Policy forbids those) and no extra request from a platform's page.
// A platform restyles it with the --liveness-* custom properties and ::part(); every colour
// pair below keeps a contrast of at least 4.5:1 (text on --liveness-bg, white on the buttons).

const CSS = `
:host {
  --_bg: var(--liveness-bg, #121417);
  --_fg: var(--liveness-fg, #f4f4f4);
  --_muted: var(--liveness-muted, #c4c7cc);
  --_accent: var(--liveness-accent, #1765cc);
  --_on-accent: var(--liveness-on-accent, #ffffff);
  --_pass: var(--liveness-pass, #188038);
  --_fail: var(--liveness-fail, #c5221f);
  --_focus: var(--liveness-focus, #ffd54f);
  --_radius: var(--liveness-radius, 14px);
  display: block;
  container-type: inline-size;
  font: var(--liveness-font, 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
  color: var(--_fg);
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
.card {
  background: var(--_bg); color: var(--_fg); border-radius: var(--_radius);
  padding: 16px; display: flex; flex-direction: column; gap: 14px;
  max-width: 760px; margin-inline: auto; text-align: start;
}
h2 { font-size: 1.4rem; line-height: 1.25; margin: 0; }
h2:focus { outline: none; }
p { margin: 0; }
.muted { color: var(--_muted); }
.facts { margin: 0; padding-inline-start: 1.2em; display: grid; gap: 6px; color: var(--_muted); }
button {
  font: inherit; font-weight: 650; min-height: 48px; padding: 12px 20px; width: 100%;
  border: 0; border-radius: calc(var(--_radius) * 0.7); cursor: pointer;
  background: var(--_accent); color: var(--_on-accent);
}
button:focus-visible { outline: 3px solid var(--_focus); outline-offset: 3px; }
.live { display: flex; flex-direction: column; gap: 12px; }
.stage {
  position: relative; width: 100%; max-height: 62vh; aspect-ratio: 4 / 3; margin-inline: auto;
  overflow: hidden; border-radius: var(--_radius); background: #000;
}
/* The preview is mirrored like a mirror, whatever the text direction; the frames sent are not. */
.stage video { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: cover; transform: scaleX(-1); }
.stage canvas { position: absolute; inset: 0; width: 100%; height: 100%; }
.panel { display: flex; flex-direction: column; gap: 10px; }
.progress { display: flex; gap: 6px; min-height: 8px; }
.progress span { flex: 1; height: 8px; border-radius: 4px; background: #5f6368; transition: background-color 0.3s; }
.progress span.done { background: #81c995; }
.progress span.current { background: #fbbc04; }
.hint { min-height: 3em; font-size: 1.2rem; font-weight: 650; text-align: center; }
:host([data-state="hold"]) .hint { animation: pulse 1.2s ease-in-out infinite; }
:host([data-state="checking"]) .hint::after { content: ""; display: inline-block; width: 0.9em; height: 0.9em; margin-inline-start: 0.5em;
  border: 3px solid currentColor; border-inline-end-color: transparent; border-radius: 50%; animation: spin 0.9s linear infinite; vertical-align: -0.1em; }
@keyframes pulse { 50% { opacity: 0.55; } }
@keyframes spin { to { transform: rotate(360deg); } }
.outcome { display: flex; flex-direction: column; align-items: center; gap: 12px; text-align: center; padding-block: 12px; }
.badge { width: 88px; height: 88px; border-radius: 50%; display: grid; place-items: center; font-size: 48px; font-weight: 700; color: #fff; }
.pass .badge { background: var(--_pass); }
.fail .badge, .problem .badge { background: var(--_fail); }
@container (min-width: 560px) {
  .card { padding: 24px; }
  h2 { font-size: 1.6rem; }
  button { width: auto; align-self: flex-start; min-width: 200px; }
  .outcome button { align-self: center; }
}
/* A phone on its side: the preview and the guidance side by side. */
@media (orientation: landscape) and (max-height: 520px) {
  .live { flex-direction: row; align-items: center; }
  .stage { max-height: calc(100vh - 48px); width: auto; height: calc(100vh - 48px); flex: none; }
  .panel { flex: 1; }
}
@media (prefers-reduced-motion: reduce) {
  *, *::before, *::after { animation: none !important; transition: none !important; }
}
`;

export const sheet = new CSSStyleSheet();
sheet.replaceSync(CSS);
