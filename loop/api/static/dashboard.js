// The live dashboard's one script (loop/api/dashboard.py serves the pages).
// Draws every figure from its JSON; on a campaign page, asks the summary
// endpoint every few seconds whether anything changed and, if so, replaces the
// live part of the page and redraws it. No other script runs on the pages.
"use strict";
(() => {
  const config = {responsive: true, displaylogo: false};
  const draw = (root) => {
    if (typeof Plotly === "undefined") return;
    for (const div of root.querySelectorAll("div.figure")) {
      const source = document.getElementById(div.id + "-json");
      if (!source) continue;
      const fig = JSON.parse(source.textContent);
      Plotly.react(div, fig.data, fig.layout, config);
    }
  };
  draw(document);
  const page = document.body.dataset;
  if (!page.summary) return;
  const state = document.getElementById("live-state");
  const say = (text, stale) => {
    if (!state) return;
    state.textContent = text;
    state.classList.toggle("stale", stale);
  };
  const get = async (url) => {
    const r = await fetch(url, {credentials: "same-origin", cache: "no-store",
                                headers: {Accept: "application/json"}});
    if (r.status === 401) {
      location.assign("/login?next=" + encodeURIComponent(location.pathname));
      throw new Error("signed out");
    }
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  };
  let seen = page.version;
  const tick = async () => {
    try {
      const summary = await get(page.summary);
      if (summary[page.watch] !== seen) {
        if (page.live) {
          const live = await get(page.live);
          const root = document.getElementById("live");
          // purge first: plotly's resize listeners would outlive the old plots
          if (typeof Plotly !== "undefined") {
            for (const div of root.querySelectorAll("div.figure")) Plotly.purge(div);
          }
          root.innerHTML = live.html;
          draw(root);
          seen = live.version;
        } else {
          document.getElementById("stale").hidden = false;
          seen = summary[page.watch];
        }
      }
      say("live: checked at " + new Date().toLocaleTimeString(), false);
    } catch (e) {
      say("not updating (" + e.message + "); trying again", true);
    }
    setTimeout(tick, Number(page.pollMs));
  };
  setTimeout(tick, Number(page.pollMs));
})();
