// The gateway's own page: one <liveness-check> in demo mode (the gateway creates the session).
// ?lang=es, ?fps=, ?time_limit_s= set the component's options; window.liveness exposes its
// state, frames sent, timings and the decision, for people debugging and for the browser test.

import "./liveness-check.js";

const params = new URLSearchParams(location.search);
const check = document.querySelector("liveness-check");
for (const [param, attribute] of [["lang", "lang"], ["fps", "fps"], ["time_limit_s", "time-limit-s"], ["camera", "camera"]]) {
  if (params.get(param)) check.setAttribute(attribute, params.get(param));
}
if (params.get("dir")) document.documentElement.dir = params.get("dir");
window.liveness = check.stats;
