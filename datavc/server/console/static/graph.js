// Draws the pipeline DAG or a lineage graph with cytoscape + dagre; on the pipelines page,
// polls the job states every second and recolours the graph and the table in place.
"use strict";

(function () {
  var data = document.getElementById("graph-data");
  var box = document.getElementById("dag") || document.getElementById("lineage");
  if (!data || !box || typeof cytoscape === "undefined") return;
  var base = document.body.dataset.base || "";
  var css = getComputedStyle(document.documentElement);
  function v(name) { return css.getPropertyValue(name).trim(); }
  var colours = { success: v("--ok"), running: v("--run"), created: v("--accent"),
                  failure: v("--bad"), killed: v("--bad"), none: v("--idle") };
  if (typeof cytoscapeDagre !== "undefined") cytoscape.use(cytoscapeDagre);
  var elements = JSON.parse(data.textContent);
  var cy = cytoscape({
    container: box,
    elements: elements,
    userZoomingEnabled: true,
    maxZoom: 1.2,
    wheelSensitivity: 0.3,
    layout: { name: "dagre", rankDir: "LR", nodeSep: 30, rankSep: 70 },
    style: [
      { selector: "node", style: {
          "label": "data(label)", "color": v("--fg"), "font-size": 12,
          "text-valign": "bottom", "text-margin-y": 4,
          "background-color": v("--card"), "border-width": 2, "border-color": v("--idle"),
          "width": 30, "height": 30 } },
      { selector: "node[kind = 'repo']", style: { "shape": "round-rectangle", "border-color": v("--accent") } },
      { selector: "node[kind = 'pipeline']", style: { "shape": "ellipse" } },
      { selector: "node[root]", style: { "border-width": 4 } },
      { selector: "edge", style: {
          "width": 2, "line-color": v("--line"), "target-arrow-color": v("--line"),
          "target-arrow-shape": "triangle", "curve-style": "bezier" } }
    ]
  });
  function paint(node) {
    var s = node.data("state");
    if (s) node.style({ "background-color": colours[s] || colours.none, "border-color": colours[s] || colours.none });
  }
  cy.nodes().forEach(paint);
  cy.on("tap", "node", function (evt) {
    var href = evt.target.data("href");
    if (href) window.location.href = base + href;
  });
  window.datavcGraph = cy;

  var table = document.getElementById("pipeline-table");
  if (!table) return;
  function update(states) {
    Object.keys(states).forEach(function (name) {
      var st = states[name];
      var node = cy.getElementById("pipeline:" + name);
      if (node.length) { node.data("state", st.job_state); paint(node); }
      var row = table.querySelector('tr[data-pipeline="' + CSS.escape(name) + '"]');
      if (!row) return;
      row.querySelector(".pstate").textContent = st.state;
      var link = row.querySelector("a.id");
      if (link && st.job) { link.href = base + "/jobs/" + st.job; link.textContent = st.job.slice(0, 10); }
      var badge = row.querySelector(".jobstate");
      badge.textContent = st.job_state;
      badge.dataset.jobState = st.job_state;
      badge.className = "badge jobstate " + st.job_state;
    });
  }
  function poll() {
    fetch(base + "/pipelines/state.json", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) { if (s) update(s); })
      .catch(function () { /* the server is restarting: try again at the next tick */ })
      .then(function () { setTimeout(poll, 1000); });
  }
  setTimeout(poll, 1000);
})();
