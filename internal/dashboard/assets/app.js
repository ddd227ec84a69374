// The hastack dashboard: draws the stack's status as a picture, keeps the
// charts of the last 15 minutes, and sends the operator's actions with the
// page's token. Data arrives by Server-Sent Events from /api/events.
"use strict";
(function () {
  const token = document.querySelector('meta[name="hastack-token"]').content;
  const readOnly = document.querySelector('meta[name="hastack-read-only"]').content === "true";
  if (readOnly) document.body.classList.add("read-only");
  const WINDOW = 15 * 60;
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("data-")) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  };
  const pill = (text, cls) => el("span", { class: "pill " + (cls || ""), text });
  const fmtLag = (n) => n.lag_seconds > 0 || n.lag_bytes > 0 ? `${n.lag_seconds.toFixed(2)} s, ${n.lag_bytes} B` : "0";

  // ---- actions ----
  function actButton(label, verb, kind, name, cls) {
    const b = el("button", { class: "act " + (cls || ""), text: label, type: "button",
      "data-verb": verb, "data-kind": kind || "", "data-name": name || "" });
    b.addEventListener("click", () => confirmAct(verb, kind, name, label));
    return b;
  }
  function confirmAct(verb, kind, name, label) {
    const dlg = $("#confirm");
    $("#confirm-text").textContent = `${label}${name ? " " + name : ""}? This changes the running stack.`;
    dlg.onclose = () => { if (dlg.returnValue === "yes") act({ verb, kind: kind || "", name: name || "" }); };
    dlg.returnValue = "";
    dlg.showModal();
  }
  async function act(a) {
    toast(`${a.verb} ${a.kind} ${a.name}…`);
    try {
      const r = await fetch("/api/action", { method: "POST", headers: { "Content-Type": "application/json", "X-Hastack-Token": token }, body: JSON.stringify(a) });
      const body = await r.json().catch(() => ({}));
      if (!r.ok) toast(body.error || r.statusText, true); else toast(`${a.verb} ${a.kind} ${a.name}: done`);
    } catch (e) { toast(String(e), true); }
  }
  function toast(text, err) {
    const d = el("div", { class: err ? "err" : "", text });
    $("#toast").append(d);
    setTimeout(() => d.remove(), err ? 8000 : 4000);
  }

  // ---- topology ----
  let status = null;
  function render(s) {
    status = s;
    $("#stack-name").textContent = s.name;
    const st = $("#stack-state");
    st.textContent = s.ready ? "ready" : "starting"; st.className = "pill " + (s.ready ? "ok" : "warn");
    const answerRegion = (s.dns.records || []).find((r) => r.address === s.dns.answer);
    $("#dns-name").textContent = s.dns.name;
    $("#dns-answer").textContent = s.dns.answer || "-";
    $("#dns-answer-region").textContent = answerRegion ? answerRegion.set_id : "";
    $("#dns-ttl").textContent = `TTL ${s.dns.ttl}s`;
    $("#dns-records").replaceChildren(...(s.dns.records || []).map((r) => el("span", { class: "record", "data-region": r.set_id },
      `${r.set_id} ${r.failover} `, pill(r.healthy ? "healthy" : "unhealthy", r.healthy ? "ok" : "bad"),
      ` ${r.checkers_healthy}/${r.checkers} checkers`)));
    $("#regions").replaceChildren(...(s.regions || []).map((r) => region(r, answerRegion && answerRegion.set_id === r.name)));
    database(s.database, s.regions || []);
    faults(s.faults || []);
  }
  function region(r, answering) {
    const failedAZs = new Set(r.failed_azs || []);
    const state = r.fault ? `${r.fault === "isolate" ? "ISOLATED" : "FAILED"} (${r.fault})` : r.failed ? "FAILED" : "running";
    const box = el("div", { class: "region" + (answering ? " answering" : "") + (r.failed ? " failed" : ""), "data-region": r.name },
      el("div", { class: "head" },
        el("b", { text: r.name }), pill(r.role), pill(state, r.failed ? "bad" : "ok"),
        answering ? pill("DNS answer", "ok") : null,
        r.failed ? actButton("recover", "recover", "region", r.name, "good") : actButton("fail region", "fail", "region", r.name, "danger")));
    const azs = [...new Set((r.vpc.subnets || []).map((s) => s.az))];
    const lb = r.load_balancer;
    const a = r.autoscaling;
    const vpc = el("div", { class: "vpc" }, el("div", { class: "label", text: `VPC ${r.vpc.cidr} (${r.vpc.loopback})` }),
      el("div", { class: "lb" }, `load balancer ${lb.address} `, pill(lb.running ? `${lb.healthy_targets} healthy` : "down", lb.running && lb.healthy_targets > 0 ? "ok" : "bad")),
      a ? el("div", { class: "label", text: `Auto Scaling: ${a.in_service} in service, desired ${a.desired} (${a.min}–${a.max}), CPU ${a.cpu_percent.toFixed(0)}%` +
        ((a.alarms || []).length ? " · alarms: " + a.alarms.map((x) => `${x.name} ${x.state}`).join(", ") : "") }) : null,
      el("div", { class: "azs" }, ...azs.map((az) => {
        const failed = failedAZs.has(az);
        return el("div", { class: "az" + (failed ? " failed" : ""), "data-az": az },
          el("div", { class: "label" }, az, failed ? actButton("recover", "recover", "az", az, "good") : actButton("fail az", "fail", "az", az, "danger")),
          ...(r.instances || []).filter((i) => i.az === az && i.state !== "terminated").map((i) => el("span", { class: "inst " + i.health, "data-instance": i.id, title: `${i.address} pid ${i.pid} ${i.reason || ""}` },
            el("b", { text: i.id.slice(0, 10) }), `${i.state} · ${i.health}`, `CPU ${i.cpu_percent.toFixed(0)}%`,
            actButton("fail", "fail", "instance", i.id, "danger"))));
      })));
    box.append(vpc);
    return box;
  }
  function database(db, regions) {
    const box = $("#database");
    if (!db || !db.nodes) { box.replaceChildren(el("div", { class: "title", text: "Database: not running" })); return; }
    const hasPrimary = db.nodes.some((n) => n.role === "primary" && n.running);
    box.replaceChildren(
      el("div", { class: "title" }, "RDS PostgreSQL ", pill(db.sync_standby ? "sync standby" : "no sync standby", db.sync_standby ? "ok" : "warn"), " ",
        hasPrimary ? actButton("fail primary", "fail", "db-primary", "", "danger") : actButton("recover primary", "recover", "db-primary", "", "good")),
      el("div", { class: "nodes" }, ...db.nodes.map((n) => el("div", { class: "node " + n.role + (n.running ? "" : " down"), "data-node": n.name, "data-role": n.role },
        el("b", { text: n.name }), " ", pill(n.role, n.role === "primary" ? "ok" : ""), el("br"),
        `${n.region} · ${n.az} · ${n.address}`, el("br"),
        `${n.running ? "running" : "down"}${n.fenced ? " · fenced" : ""} · ${n.replication_state || "-"} · lag ${fmtLag(n)}`,
        n.role === "replica" ? el("div", {}, actButton("promote " + n.region, "promote", "", n.region)) : null))),
      el("div", { class: "endpoints", text: `writer ${db.writer_endpoint} · ` + (db.endpoints || []).map((e) => `${e.region}: writer ${e.writer}, reader ${e.reader}`).join(" · ") }));
  }
  function faults(list) {
    const box = $("#faults");
    box.replaceChildren(el("div", { class: "title", text: `Active faults (${list.length})` }),
      ...list.map((f) => el("div", { class: "fault" }, pill(f.kind, "bad"), ` ${f.target}${f.other ? " ↔ " + f.other : ""}${f.mode ? " (" + f.mode + ")" : ""} ${f.details || ""} since ${new Date(f.since).toLocaleTimeString()}`)));
  }

  // ---- timeline ----
  const markers = [];
  function addEvent(e) {
    const t = new Date(e.time);
    if (e.marker) markers.push({ t: t.getTime() / 1000, kind: e.marker, text: e.message });
    const li = el("li", { class: e.marker || "" }, el("span", { class: "t", text: t.toLocaleTimeString() }), e.message);
    const list = $("#events");
    list.prepend(li);
    while (list.children.length > 300) list.lastChild.remove();
  }

  // ---- charts ----
  const data = { t: [], series: {} };
  const charts = {};
  const markerColor = { fault: "#d33", recovery: "#2e9d4c", dns: "#4a57d6", promotion: "#a020f0", drill: "#888" };
  const palette = ["#4a57d6", "#d33", "#2e9d4c", "#d8a100", "#a020f0", "#0aa", "#e67e22", "#555"];
  function chartKey(id) { const [g, c] = id.split("|"); return g + "|" + c; }
  function drawMarkers(u) {
    const ctx = u.ctx;
    ctx.save();
    for (const m of markers) {
      const x = u.valToPos(m.t, "x", true);
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
      ctx.strokeStyle = markerColor[m.kind] || "#888";
      ctx.setLineDash([4, 3]);
      ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
    }
    ctx.restore();
  }
  function syncCharts() {
    const groups = {};
    for (const id of Object.keys(data.series)) {
      const [g, c, s] = id.split("|");
      ((groups[g] = groups[g] || {})[c] = groups[g][c] || []).push(s);
    }
    for (const [g, cs] of Object.entries(groups)) {
      let box = document.querySelector(`.group[data-group="${CSS.escape(g)}"]`);
      if (!box) {
        box = el("div", { class: "group", "data-group": g }, el("div", { class: "title", text: g }), el("div", { class: "row" }));
        $("#charts").append(box);
      }
      for (const [c, names] of Object.entries(cs)) {
        names.sort();
        const key = g + "|" + c;
        const cols = [data.t, ...names.map((n) => data.series[key + "|" + n])];
        let ch = charts[key];
        if (ch && ch.names.join() !== names.join()) { ch.u.destroy(); ch.div.remove(); ch = null; }
        if (!ch) {
          const div = el("div", { class: "chart" }, el("div", { class: "ctitle", text: c }));
          box.querySelector(".row").append(div);
          const u = new uPlot({ width: 380, height: 150, legend: { show: names.length <= 6 },
            scales: { x: { time: true } },
            series: [{}, ...names.map((n, i) => ({ label: n, stroke: palette[i % palette.length], spanGaps: false, width: 1.5 }))],
            axes: [{}, { size: 45 }],
            hooks: { draw: [drawMarkers] } }, cols, div);
          charts[key] = ch = { u, names, div };
        } else {
          ch.u.setData(cols);
        }
      }
    }
  }
  function addSample(s) {
    data.t.push(s.t);
    const n = data.t.length;
    for (const id of Object.keys(s.values)) if (!data.series[id]) data.series[id] = new Array(n - 1).fill(null);
    for (const [id, col] of Object.entries(data.series)) col.push(id in s.values ? s.values[id] : null);
    let drop = 0;
    while (drop < data.t.length && data.t[drop] < s.t - WINDOW) drop++;
    if (drop) {
      data.t.splice(0, drop);
      for (const [id, col] of Object.entries(data.series)) {
        col.splice(0, drop);
        if (col.every((v) => v == null)) delete data.series[id];
      }
    }
    while (markers.length && markers[0].t < s.t - WINDOW) markers.shift();
    syncCharts();
  }

  // ---- stream ----
  async function start() {
    try {
      const h = await (await fetch("/api/history")).json();
      data.t = h.t || [];
      data.series = h.series || {};
      for (const e of h.events || []) addEvent(e);
      syncCharts();
    } catch (e) { toast("history: " + e, true); }
    const es = new EventSource("/api/events");
    es.addEventListener("status", (m) => render(JSON.parse(m.data)));
    es.addEventListener("event", (m) => addEvent(JSON.parse(m.data)));
    es.addEventListener("sample", (m) => addSample(JSON.parse(m.data)));
    es.onopen = () => { $("#conn").textContent = "live"; $("#conn").className = "pill ok"; };
    es.onerror = () => { $("#conn").textContent = "reconnecting"; $("#conn").className = "pill bad"; };
  }
  start();
})();
