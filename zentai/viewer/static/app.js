// zentai viewer: draws what the zentai server computed (see zentai/viewer/server.py).
// Plain JavaScript and 2-D canvases, no libraries, so the page works offline.
// Testable state: window.zentaiViewer.panelStats(), and data-points on every canvas.
"use strict";

(function () {
  // ------------------------------------------------------------------ state
  const state = {
    datasets: [],
    columns: [],
    tMax: 1,
    timeMs: 0,
    playing: false,
    speed: 1,
    group: "population",
    lastTick: null,
    ready: false,
    errors: [],
  };
  const PALETTE = [
    "#1f5fa8", "#c0392b", "#2e8b57", "#8e44ad", "#d68910",
    "#17808a", "#b03a75", "#5d6d7e", "#7d9a1e", "#a04000",
    "#3b4fc4", "#e05a47", "#1e9e8c", "#9b59b6", "#c9a227",
  ];
  const FONT = "11px system-ui, 'DejaVu Sans', sans-serif";
  const SMALL = "10px system-ui, 'DejaVu Sans', sans-serif";

  // ------------------------------------------------------------------ helpers
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }

  function fmt(x, digits) {
    if (x === null || x === undefined || !isFinite(x)) return "–";
    const d = digits === undefined ? 3 : digits;
    if (x !== 0 && (Math.abs(x) >= 1e4 || Math.abs(x) < 1e-3)) return x.toExponential(1);
    return String(+x.toPrecision(d));
  }

  function niceTicks(lo, hi, n) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / Math.max(1, n);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
    const out = [];
    for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
      out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    }
    return out;
  }

  // size a canvas for the device pixel ratio; returns a context in CSS pixels
  function setup(canvas, height) {
    const width = Math.max(200, canvas.parentElement.clientWidth - 16);
    const dpr = window.devicePixelRatio || 1;
    canvas.style.height = height + "px";
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = FONT;
    return { ctx, width, height, dpr };
  }

  // an offscreen copy of a drawn canvas, to redraw cursors over
  function snapshot(canvas) {
    const c = document.createElement("canvas");
    c.width = canvas.width;
    c.height = canvas.height;
    c.getContext("2d").drawImage(canvas, 0, 0);
    return c;
  }

  function restore(canvas, base) {
    const ctx = canvas.getContext("2d");
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(base, 0, 0);
    ctx.restore();
    return ctx;
  }

  // axes: box {x, y, w, h}; sx, sy map data -> pixels; ticks given as arrays
  function axes(ctx, box, o) {
    ctx.save();
    ctx.strokeStyle = "#8a94a3";
    ctx.fillStyle = "#39424e";
    ctx.lineWidth = 1;
    ctx.strokeRect(box.x + 0.5, box.y + 0.5, box.w, box.h);
    ctx.font = SMALL;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const t of o.xticks || []) {
      const px = Math.round(o.sx(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(px, box.y + box.h);
      ctx.lineTo(px, box.y + box.h + 4);
      ctx.stroke();
      ctx.fillText(o.xfmt ? o.xfmt(t) : fmt(t), px, box.y + box.h + 5);
    }
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const t of o.yticks || []) {
      const py = Math.round(o.sy(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(box.x - 4, py);
      ctx.lineTo(box.x, py);
      ctx.stroke();
      ctx.fillText(o.yfmt ? o.yfmt(t) : fmt(t), box.x - 6, py);
    }
    ctx.font = FONT;
    if (o.xlabel) {
      ctx.textAlign = "center";
      ctx.textBaseline = "bottom";
      ctx.fillText(o.xlabel, box.x + box.w / 2, box.y + box.h + 32);
    }
    if (o.ylabel) {
      ctx.translate(12, box.y + box.h / 2);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(o.ylabel, 0, 0);
    }
    ctx.restore();
  }

  // colour maps (anchors chosen for this viewer): activity and correlation
  const HEAT = [
    [0.0, [48, 18, 94]],
    [0.3, [150, 30, 110]],
    [0.6, [230, 85, 45]],
    [0.85, [250, 175, 40]],
    [1.0, [252, 245, 150]],
  ];
  const DIVERGING = [
    [0.0, [33, 72, 150]],
    [0.25, [110, 160, 215]],
    [0.5, [247, 247, 247]],
    [0.75, [235, 135, 110]],
    [1.0, [165, 25, 40]],
  ];
  function cmap(anchors, t) {
    t = Math.min(1, Math.max(0, t));
    for (let i = 1; i < anchors.length; i++) {
      if (t <= anchors[i][0]) {
        const [t0, c0] = anchors[i - 1];
        const [t1, c1] = anchors[i];
        const f = (t - t0) / (t1 - t0 || 1);
        const c = c0.map((v, k) => Math.round(v + f * (c1[k] - v)));
        return `rgb(${c[0]},${c[1]},${c[2]})`;
      }
    }
    const c = anchors[anchors.length - 1][1];
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  function colorbar(ctx, box, anchors, vmin, vmax, label) {
    const n = 64;
    for (let i = 0; i < n; i++) {
      ctx.fillStyle = cmap(anchors, (i + 0.5) / n);
      const y0 = box.y + box.h - ((i + 1) * box.h) / n;
      ctx.fillRect(box.x, y0, box.w, box.h / n + 0.6);
    }
    ctx.strokeStyle = "#8a94a3";
    ctx.strokeRect(box.x + 0.5, box.y + 0.5, box.w, box.h);
    ctx.fillStyle = "#39424e";
    ctx.font = SMALL;
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    for (const t of niceTicks(vmin, vmax, 4)) {
      const py = box.y + box.h - ((t - vmin) / (vmax - vmin || 1)) * box.h;
      ctx.fillText(fmt(t), box.x + box.w + 4, py);
    }
    ctx.save();
    ctx.font = FONT;
    ctx.translate(box.x + box.w + 38, box.y + box.h / 2);
    ctx.rotate(Math.PI / 2);
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(label, 0, 0);
    ctx.restore();
  }

  // the dotted common prefix of names ("Isocortex.") and the names without it
  function shortNames(names) {
    if (names.length < 2) return { prefix: "", names: names.slice() };
    let prefix = names[0].slice(0, names[0].lastIndexOf(".") + 1);
    while (prefix && !names.every((n) => n.startsWith(prefix))) {
      prefix = prefix.slice(0, prefix.slice(0, -1).lastIndexOf(".") + 1);
    }
    return { prefix, names: names.map((n) => n.slice(prefix.length)) };
  }

  function cursor(ctx, box, x) {
    if (x < box.x || x > box.x + box.w) return;
    ctx.save();
    ctx.strokeStyle = "rgba(20, 20, 20, 0.75)";
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(Math.round(x) + 0.5, box.y);
    ctx.lineTo(Math.round(x) + 0.5, box.y + box.h);
    ctx.stroke();
    ctx.restore();
  }

  function shadeWarmup(ctx, box, sx, windowStart) {
    if (!(windowStart > 0)) return;
    const x1 = sx(windowStart);
    ctx.fillStyle = "rgba(120, 130, 145, 0.12)";
    ctx.fillRect(box.x + 1, box.y + 1, x1 - box.x - 1, box.h - 1);
    ctx.fillStyle = "#6b7685";
    ctx.font = SMALL;
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText("warm-up", box.x + 4, box.y + 3);
  }

  async function getJSON(url) {
    const r = await fetch(url);
    const body = await r.json();
    if (!r.ok) throw new Error(`${url}: ${body.error || r.status}`);
    return body;
  }

  function reportError(msg) {
    state.errors.push(String(msg));
    const box = document.getElementById("errors");
    box.hidden = false;
    box.textContent = state.errors.join("\n");
  }

  // ------------------------------------------------------------------ panels
  function makePanel(column, key, title) {
    const note = el("span", { class: "note" });
    const h = el("h3", {}, el("span", { text: title }), note);
    const canvas = el("canvas", { "data-panel": key, "data-points": "0" });
    const div = el("div", { class: "panel", "data-panel": key }, h, canvas);
    column.body.append(div);
    return { key, canvas, note, head: h, points: 0, data: null };
  }

  function setPoints(panel, n) {
    panel.points = n;
    panel.canvas.dataset.points = String(n);
  }

  // a time plot keeps its frame, time scale and a snapshot, so the cursor redraws cheaply
  function keepForCursor(panel, box, sx, n) {
    panel.box = box;
    panel.sx = sx;
    panel.base = snapshot(panel.canvas);
    setPoints(panel, n);
  }

  // --- top-view activity map
  function frameIndex(map, t) {
    const n = map.time_ms.length;
    return Math.max(0, Math.min(n - 1, Math.floor(t / map.bin_ms)));
  }

  function mapView(map, fit) {
    const g = map.grid;
    if (!fit || map.mode !== "atlas") return { x0: 0, y0: 0, x1: g.width, y1: g.height };
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    const add = (x, y) => {
      x0 = Math.min(x0, x); x1 = Math.max(x1, x + 1);
      y0 = Math.min(y0, y); y1 = Math.max(y1, y + 1);
    };
    map.cells.x.forEach((x, i) => add(x, map.cells.y[i]));
    for (const r of (map.background && map.background.regions) || []) {
      for (const c of r.cells) add(c % g.width, Math.floor(c / g.width));
    }
    const m = 6;
    const span = Math.max(x1 - x0, y1 - y0, 36) + 2 * m;
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    return {
      x0: Math.max(0, Math.floor(cx - span / 2)),
      y0: Math.max(0, Math.floor(cy - span / 2)),
      x1: Math.min(g.width, Math.ceil(cx + span / 2)),
      y1: Math.min(g.height, Math.ceil(cy + span / 2)),
    };
  }

  function drawMapBase(panel) {
    const map = panel.data;
    const g = map.grid;
    const height = 430;
    const { ctx, width } = setup(panel.canvas, height);
    const view = mapView(map, panel.fit);
    const right = 86;
    const availW = width - 60 - right, availH = height - (map.mode === "atlas" ? 70 : 80);
    const s = Math.min(availW / (view.x1 - view.x0), availH / (view.y1 - view.y0));
    const box = {
      x: 56 + (availW - s * (view.x1 - view.x0)) / 2,
      y: map.mode === "atlas" ? 26 : 40,
      w: s * (view.x1 - view.x0),
      h: s * (view.y1 - view.y0),
    };
    const px = (x) => box.x + (x - view.x0) * s;
    const py = (y) => box.y + (y - view.y0) * s;
    panel.geom = { box, s, px, py, view };
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);
    if (map.mode === "atlas") {
      const bg = map.background;
      ctx.fillStyle = "#fbfbfc";
      ctx.fillRect(box.x, box.y, box.w, box.h);
      if (bg) {
        const light = bg.colors.map((c) => {
          const v = [1, 3, 5].map((k) => parseInt(c.substr(k, 2), 16));
          return `rgb(${v.map((x) => Math.round(x + 0.7 * (255 - x))).join(",")})`;
        });
        for (let y = view.y0; y < view.y1; y++) {
          for (let x = view.x0; x < view.x1; x++) {
            const a = bg.surface[y * g.width + x];
            if (a === -1) continue;
            ctx.fillStyle = a >= 0 ? light[a] : "#e6e8eb";
            ctx.fillRect(px(x), py(y), s + 0.5, s + 0.5);
          }
        }
        // area boundaries
        ctx.strokeStyle = "rgba(90, 100, 115, 0.55)";
        ctx.lineWidth = 0.8;
        ctx.beginPath();
        for (let y = view.y0; y < view.y1; y++) {
          for (let x = view.x0; x < view.x1; x++) {
            const a = bg.surface[y * g.width + x];
            if (x + 1 < g.width && bg.surface[y * g.width + x + 1] !== a && x + 1 < view.x1) {
              ctx.moveTo(px(x + 1), py(y));
              ctx.lineTo(px(x + 1), py(y + 1));
            }
            if (y + 1 < g.height && bg.surface[(y + 1) * g.width + x] !== a && y + 1 < view.y1) {
              ctx.moveTo(px(x), py(y + 1));
              ctx.lineTo(px(x + 1), py(y + 1));
            }
          }
        }
        ctx.stroke();
        // area names at their centroids (visible part)
        const sums = bg.areas.map(() => [0, 0, 0]);
        for (let y = view.y0; y < view.y1; y++) {
          for (let x = view.x0; x < view.x1; x++) {
            const a = bg.surface[y * g.width + x];
            if (a >= 0) { sums[a][0] += x; sums[a][1] += y; sums[a][2] += 1; }
          }
        }
        ctx.font = SMALL;
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.fillStyle = "rgba(60, 68, 80, 0.8)";
        sums.forEach((v, a) => {
          if (v[2] * s * s > 600) ctx.fillText(bg.areas[a], px(v[0] / v[2] + 0.5), py(v[1] / v[2] + 0.5));
        });
      }
    }
    panel.regionOutlines = (map.background && map.background.regions) || [];
    panel.box = box;
    // axes
    if (map.mode === "atlas") {
      const mm = (v) => v * g.um_per_cell / 1000;
      const xt = niceTicks(mm(view.x0), mm(view.x1), 5);
      const yt = niceTicks(mm(view.y0), mm(view.y1), 5);
      axes(ctx, box, {
        xticks: xt, yticks: yt,
        sx: (v) => px(v * 1000 / g.um_per_cell), sy: (v) => py(v * 1000 / g.um_per_cell),
        xlabel: "ML (mm, CCF)   ← left hemisphere · right →",
        ylabel: "AP (mm, CCF; anterior up)",
      });
    } else {
      ctx.font = FONT;
      ctx.fillStyle = "#39424e";
      ctx.textAlign = "center";
      ctx.textBaseline = "bottom";
      (g.x_names || []).forEach((n, i) => ctx.fillText(n, px(i + 0.5), box.y - 2));
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      (g.y_names || []).forEach((n, i) => ctx.fillText(n, box.x - 6, py(i + 0.5)));
      ctx.textAlign = "center";
      ctx.textBaseline = "top";
      ctx.fillText(g.x_label ? `${g.x_label} (columns) × ${g.y_label} (rows)` : "populations",
        box.x + box.w / 2, box.y + box.h + 8);
    }
    colorbar(ctx, { x: width - right + 8, y: box.y, w: 14, h: Math.min(box.h, 300) },
      HEAT, 0, map.vmax_hz, "rate (Hz per neuron)");
    panel.base = snapshot(panel.canvas);
  }

  function drawMapFrame(panel) {
    const map = panel.data;
    if (!panel.base) drawMapBase(panel);
    const ctx = restore(panel.canvas, panel.base);
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const { s, px, py, view } = panel.geom;
    const k = frameIndex(map, state.timeMs);
    panel.frame = k;
    const row = map.rates_hz[k];
    let drawn = 0, active = 0;
    const inset = map.mode === "atlas" ? 0 : Math.max(2, s * 0.06);
    for (let i = 0; i < row.length; i++) {
      const x = map.cells.x[i], y = map.cells.y[i];
      if (x < view.x0 || x >= view.x1 || y < view.y0 || y >= view.y1) continue;
      const v = row[i];
      ctx.fillStyle = v > 0 ? cmap(HEAT, v / map.vmax_hz) : "rgba(48, 18, 94, 0.28)";
      ctx.fillRect(px(x) + inset, py(y) + inset, s - 2 * inset + (inset ? 0 : 0.5), s - 2 * inset + (inset ? 0 : 0.5));
      drawn += 1;
      if (v > 0) active += 1;
      if (map.mode !== "atlas") {
        ctx.fillStyle = !(v > 0) || v / map.vmax_hz > 0.55 ? "#1d2330" : "#ffffff";
        ctx.font = FONT;
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.fillText(map.cells.label[i], px(x + 0.5), py(y + 0.5) - 8);
        ctx.fillText(`${fmt(v)} Hz`, px(x + 0.5), py(y + 0.5) + 8);
      }
    }
    // modelled regions: outline and name (clipped to the map)
    ctx.save();
    ctx.beginPath();
    ctx.rect(panel.box.x, panel.box.y, panel.box.w, panel.box.h);
    ctx.clip();
    ctx.strokeStyle = "#14181f";
    ctx.lineWidth = 1.6;
    const w = map.grid.width;
    for (const r of panel.regionOutlines) {
      const set = new Set(r.cells);
      ctx.beginPath();
      let sx = 0, sy = 0;
      for (const c of r.cells) {
        const x = c % w, y = Math.floor(c / w);
        sx += x; sy += y;
        if (!set.has(c - 1) || x === 0) { ctx.moveTo(px(x), py(y)); ctx.lineTo(px(x), py(y + 1)); }
        if (!set.has(c + 1) || x === w - 1) { ctx.moveTo(px(x + 1), py(y)); ctx.lineTo(px(x + 1), py(y + 1)); }
        if (!set.has(c - w)) { ctx.moveTo(px(x), py(y)); ctx.lineTo(px(x + 1), py(y)); }
        if (!set.has(c + w)) { ctx.moveTo(px(x), py(y + 1)); ctx.lineTo(px(x + 1), py(y + 1)); }
      }
      ctx.stroke();
      // name: on the outline's top edge, left of centre
      ctx.font = "bold 11px system-ui, 'DejaVu Sans', sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      const cx = px(sx / r.cells.length + 0.5), cy = py(sy / r.cells.length + 0.5);
      ctx.lineWidth = 3;
      ctx.strokeStyle = "rgba(255,255,255,0.9)";
      ctx.strokeText(r.name, cx, cy);
      ctx.fillStyle = "#14181f";
      ctx.fillText(r.name, cx, cy);
      ctx.strokeStyle = "#14181f";
      ctx.lineWidth = 1.6;
    }
    ctx.restore();
    // frame label
    ctx.font = FONT;
    ctx.fillStyle = "#1d2330";
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    const t0 = k * map.bin_ms;
    ctx.fillText(`frame ${k + 1}/${map.time_ms.length}: ${fmt(t0, 4)}–${fmt(t0 + map.bin_ms, 4)} ms`
      + `   ${active} of ${drawn} ${map.mode === "atlas" ? "columns" : "populations"} active`,
      panel.box.x, 6);
    panel.active = active;
    setPoints(panel, drawn);
  }

  // --- raster
  function drawRaster(panel) {
    const r = panel.data;
    const height = 300;
    const { ctx, width } = setup(panel.canvas, height);
    const short = shortNames(r.populations.map((p) => p.name));
    const left = Math.min(130, 24 + 6.2 * Math.max(...short.names.map((n) => n.length)));
    const box = { x: left, y: 8, w: width - left - 12, h: height - 50 };
    const sx = (t) => box.x + (t / r.t_stop_ms) * box.w;
    const sy = (row) => box.y + box.h - ((row + 0.5) / Math.max(1, r.n_neurons)) * box.h;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);
    shadeWarmup(ctx, box, sx, panel.windowStart);
    // population bands
    const popColor = new Map();
    r.populations.forEach((p, i) => {
      popColor.set(i, PALETTE[i % PALETTE.length]);
      if (i % 2 === 1) {
        ctx.fillStyle = "rgba(120, 130, 145, 0.06)";
        ctx.fillRect(box.x, sy(p.stop - 0.5), box.w, sy(p.start - 0.5) - sy(p.stop - 0.5));
      }
    });
    const starts = r.populations.map((p) => p.start);
    let n = 0;
    const dot = Math.max(1.2, Math.min(2.2, 2600 / Math.max(1, r.n_neurons)));
    let k = 0;
    for (let i = 0; i < r.time_ms.length; i++) {
      const row = r.row[i];
      while (k + 1 < starts.length && row >= starts[k + 1]) k += 1;
      while (k > 0 && row < starts[k]) k -= 1;
      ctx.fillStyle = popColor.get(k);
      ctx.fillRect(sx(r.time_ms[i]) - dot / 2, sy(row) - dot / 2, dot, dot);
      n += 1;
    }
    // labels of the populations
    ctx.font = SMALL;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    r.populations.forEach((p, i) => {
      const y0 = sy(p.stop - 0.5), y1 = sy(p.start - 0.5);
      if (y1 - y0 >= 8) {
        ctx.fillStyle = popColor.get(i);
        ctx.fillText(short.names[i], box.x - 5, (y0 + y1) / 2);
      }
      ctx.strokeStyle = "rgba(120, 130, 145, 0.35)";
      ctx.beginPath();
      ctx.moveTo(box.x, Math.round(y0) + 0.5);
      ctx.lineTo(box.x + box.w, Math.round(y0) + 0.5);
      ctx.stroke();
    });
    axes(ctx, box, {
      xticks: niceTicks(0, r.t_stop_ms, 8), yticks: [], sx, sy,
      xlabel: "time (ms)",
      ylabel: "",
    });
    panel.note.textContent = `${r.n_shown.toLocaleString()} of ${r.n_total.toLocaleString()} spikes`
      + (r.n_shown < r.n_total ? ` (${(100 * r.neuron_fraction).toFixed(1)} % of neurons)` : "")
      + (short.prefix ? ` · ${short.prefix}*` : "");
    keepForCursor(panel, box, sx, n);
  }

  // --- rates: one band per group
  function drawRates(panel) {
    const r = panel.data;
    const nG = r.names.length;
    const band = nG > 12 ? 20 : 28;
    const height = 52 + band * nG;
    const { ctx, width } = setup(panel.canvas, height);
    const short = shortNames(r.names);
    const left = Math.min(130, 24 + 6.2 * Math.max(...short.names.map((n) => n.length)));
    const right = 118;
    const box = { x: left, y: 8, w: width - left - right, h: band * nG };
    const tMax = r.time_ms.length ? r.time_ms[r.time_ms.length - 1] + r.bin_ms / 2 : 1;
    const sx = (t) => box.x + (t / tMax) * box.w;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);
    shadeWarmup(ctx, box, sx, panel.windowStart);
    let n = 0;
    r.names.forEach((name, g) => {
      const y0 = box.y + g * band, y1 = y0 + band - 3;
      const tr = r.rates_hz[g];
      const vmax = Math.max(1e-9, ...tr.filter((v) => v !== null));
      const color = PALETTE[g % PALETTE.length];
      ctx.strokeStyle = color;
      ctx.fillStyle = color + "33";
      ctx.lineWidth = 1.1;
      ctx.beginPath();
      ctx.moveTo(sx(0), y1);
      tr.forEach((v, i) => {
        ctx.lineTo(sx(r.time_ms[i]), y1 - ((v || 0) / vmax) * (band - 6));
        n += 1;
      });
      ctx.lineTo(sx(tMax), y1);
      ctx.fill();
      ctx.stroke();
      ctx.font = SMALL;
      ctx.fillStyle = color;
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      ctx.fillText(short.names[g], box.x - 5, (y0 + y1) / 2);
      ctx.textAlign = "left";
      ctx.fillStyle = "#39424e";
      if (band >= 26) {
        ctx.fillText(`mean ${fmt(r.mean_hz[name])} Hz`, box.x + box.w + 6, (y0 + y1) / 2 - 6);
        ctx.fillStyle = "#7a8594";
        ctx.fillText(`peak ${fmt(vmax)} Hz`, box.x + box.w + 6, (y0 + y1) / 2 + 6);
      } else {
        ctx.fillText(`${fmt(r.mean_hz[name])} Hz`, box.x + box.w + 6, (y0 + y1) / 2);
        ctx.fillStyle = "#7a8594";
        ctx.fillText(`(${fmt(vmax)})`, box.x + box.w + 58, (y0 + y1) / 2);
      }
      ctx.strokeStyle = "rgba(120, 130, 145, 0.3)";
      ctx.beginPath();
      ctx.moveTo(box.x, Math.round(y1) + 1.5);
      ctx.lineTo(box.x + box.w, Math.round(y1) + 1.5);
      ctx.stroke();
    });
    axes(ctx, box, {
      xticks: niceTicks(0, tMax, 8), yticks: [], sx, sy: (v) => v,
      xlabel: `time (ms); rate in ${fmt(r.bin_ms)} ms bins (Hz per neuron), each band scaled to its peak`,
    });
    panel.note.textContent = `${nG} ${r.group === "population" ? "populations" : r.group + " groups"}; right: mean in the window (peak)`
      + (short.prefix ? ` · ${short.prefix}*` : "");
    keepForCursor(panel, box, sx, n);
  }

  // --- spectra: log power against frequency
  function drawSpectra(panel) {
    const sp = panel.data;
    const height = 290;
    const { ctx, width } = setup(panel.canvas, height);
    const short = shortNames(sp.names);
    const legendW = Math.min(150, 30 + 6.2 * Math.max(...short.names.map((n) => n.length)));
    const box = { x: 64, y: 10, w: width - 64 - legendW - 10, h: height - 56 };
    const f = sp.frequency_hz;
    const fMax = Math.min(250, f[f.length - 1]);
    let lo = Infinity, hi = -Infinity;
    sp.psd.forEach((row) => row.forEach((v, i) => {
      if (v > 0 && f[i] > 0 && f[i] <= fMax) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }));
    if (!isFinite(lo)) { lo = 1e-3; hi = 1; }
    const l0 = Math.floor(Math.log10(lo)), l1 = Math.ceil(Math.log10(hi));
    const top = l1 > l0 ? l1 : l0 + 1;
    const sx = (v) => box.x + (v / fMax) * box.w;
    const sy = (lv) => box.y + box.h - ((lv - l0) / (top - l0)) * box.h;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);
    const ydec = [];
    for (let d = l0; d <= top; d++) ydec.push(d);
    ctx.strokeStyle = "rgba(120, 130, 145, 0.18)";
    for (const d of ydec) {
      ctx.beginPath();
      ctx.moveTo(box.x, Math.round(sy(d)) + 0.5);
      ctx.lineTo(box.x + box.w, Math.round(sy(d)) + 0.5);
      ctx.stroke();
    }
    let n = 0;
    ctx.save();
    ctx.beginPath();
    ctx.rect(box.x, box.y, box.w, box.h);
    ctx.clip();
    sp.psd.forEach((row, g) => {
      ctx.strokeStyle = PALETTE[g % PALETTE.length];
      ctx.lineWidth = 1.2;
      ctx.beginPath();
      let pen = false;
      row.forEach((v, i) => {
        if (!(v > 0) || f[i] <= 0 || f[i] > fMax) { pen = false; return; }
        const x = sx(f[i]), y = sy(Math.log10(v));
        if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
        pen = true;
        n += 1;
      });
      ctx.stroke();
    });
    ctx.restore();
    axes(ctx, box, {
      xticks: niceTicks(0, fMax, 8), yticks: ydec, sx, sy,
      yfmt: (d) => `1e${d}`,
      xlabel: "frequency (Hz)",
      ylabel: "PSD (Hz²/Hz)",
    });
    // legend
    ctx.font = SMALL;
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    const step = Math.min(16, (box.h - 4) / Math.max(1, sp.names.length));
    short.names.forEach((name, g) => {
      const y = box.y + 6 + g * step;
      ctx.fillStyle = PALETTE[g % PALETTE.length];
      ctx.fillRect(box.x + box.w + 10, y - 1.5, 14, 3);
      ctx.fillText(name, box.x + box.w + 28, y);
    });
    panel.note.textContent = `Welch, ${fmt(sp.resolution_hz)} Hz resolution, window `
      + `${fmt(sp.window_ms[0], 4)}–${fmt(sp.window_ms[1], 4)} ms`;
    setPoints(panel, n);
  }

  // --- correlation matrix
  function drawCorrelation(panel) {
    const c = panel.data;
    const nG = c.names.length;
    const short = shortNames(c.names);
    const left = Math.min(130, 24 + 6.2 * Math.max(...short.names.map((n) => n.length)));
    const probe = Math.max(200, panel.canvas.parentElement.clientWidth - 16);
    const side = Math.max(60, Math.min(probe - left - 110, 22 * nG + 40, 420));
    const height = side + left + 10;
    const { ctx, width } = setup(panel.canvas, height);
    const cell = side / nG;
    const box = { x: left, y: left, w: side, h: side };
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);
    let n = 0;
    for (let i = 0; i < nG; i++) {
      for (let j = 0; j < nG; j++) {
        const v = c.matrix[i][j];
        if (v === null) {
          ctx.fillStyle = "#d9dde3";
        } else {
          ctx.fillStyle = cmap(DIVERGING, (v + 1) / 2);
          n += 1;
        }
        ctx.fillRect(box.x + j * cell, box.y + i * cell, cell + 0.4, cell + 0.4);
      }
    }
    ctx.strokeStyle = "#8a94a3";
    ctx.strokeRect(box.x + 0.5, box.y + 0.5, box.w, box.h);
    ctx.font = SMALL;
    ctx.fillStyle = "#39424e";
    const every = Math.ceil(9 / cell);
    for (let i = 0; i < nG; i += every) {
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      ctx.fillText(short.names[i], box.x - 4, box.y + (i + 0.5) * cell);
      ctx.save();
      ctx.translate(box.x + (i + 0.5) * cell, box.y - 4);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = "left";
      ctx.fillText(short.names[i], 0, 0);
      ctx.restore();
    }
    if (cell >= 30) {
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      for (let i = 0; i < nG; i++) {
        for (let j = 0; j < nG; j++) {
          const v = c.matrix[i][j];
          if (v === null) continue;
          ctx.fillStyle = Math.abs(v) > 0.6 ? "#fff" : "#1d2330";
          ctx.fillText(v.toFixed(2), box.x + (j + 0.5) * cell, box.y + (i + 0.5) * cell);
        }
      }
    }
    colorbar(ctx, { x: box.x + box.w + 14, y: box.y, w: 14, h: box.h }, DIVERGING, -1, 1,
      "Pearson r");
    panel.note.textContent = `rates in ${fmt(c.bin_ms)} ms bins, ${c.n_bins} bins`
      + (n < nG * nG ? " · grey: silent" : "");
    setPoints(panel, n);
  }

  // ------------------------------------------------------------------ columns
  function makeColumn(ds) {
    const body = el("section", { class: "column", "data-dataset": String(ds.id) });
    const win = `analysis window ${fmt(ds.window_ms[0], 5)}–${fmt(ds.window_ms[1], 5)} ms`;
    body.append(
      el("h2", { text: ds.name }),
      el("div", {
        class: "meta",
        text: `${ds.kind} · ${ds.path} · ${ds.n_neurons.toLocaleString()} neurons · `
          + `${ds.n_spikes.toLocaleString()} spikes · ${fmt(ds.t_stop_ms, 5)} ms · ${win}`,
      }),
    );
    document.getElementById("columns").append(body);
    const col = { ds, body, panels: {} };
    col.panels.map = makePanel(col, "map", ds.has_positions ? "Top view (dorsal)" : "Populations (schematic column)");
    col.panels.raster = makePanel(col, "raster", "Raster (rows: neurons, grouped by population)");
    col.panels.rates = makePanel(col, "rates", "Rates");
    col.panels.spectra = makePanel(col, "spectra", "Power spectra of the rates");
    col.panels.correlation = makePanel(col, "correlation", "Correlation of the rates");
    for (const p of Object.values(col.panels)) p.windowStart = ds.window_ms[0];
    const m = col.panels.map;
    m.fit = true;
    if (ds.has_positions) {
      const b = el("button", { type: "button", text: "whole brain" });
      b.addEventListener("click", () => {
        m.fit = !m.fit;
        b.textContent = m.fit ? "whole brain" : "fit to data";
        m.base = null;
        drawMapFrame(m);
      });
      m.head.append(b);
    }
    return col;
  }

  function groupFor(col) {
    return col.ds.groupings.includes(state.group) ? state.group : "population";
  }

  async function loadGrouped(col) {
    const i = col.ds.id;
    const g = encodeURIComponent(groupFor(col));
    const [rates, spectra, corr] = await Promise.all([
      getJSON(`api/${i}/rates?group=${g}`),
      getJSON(`api/${i}/spectra?group=${g}`),
      getJSON(`api/${i}/correlation?group=${g}`),
    ]);
    col.panels.rates.data = rates;
    col.panels.spectra.data = spectra;
    col.panels.correlation.data = corr;
  }

  async function loadColumn(col) {
    const i = col.ds.id;
    const [map, raster] = await Promise.all([
      getJSON(`api/${i}/map`),
      getJSON(`api/${i}/raster`),
      loadGrouped(col),
    ]);
    col.panels.map.data = map;
    col.panels.raster.data = raster;
    if (map.note) col.panels.map.note.textContent = map.note;
  }

  function drawAll() {
    for (const col of state.columns) {
      const p = col.panels;
      p.map.base = null;
      if (p.map.data) drawMapFrame(p.map);
      if (p.raster.data) drawRaster(p.raster);
      if (p.rates.data) drawRates(p.rates);
      if (p.spectra.data) drawSpectra(p.spectra);
      if (p.correlation.data) drawCorrelation(p.correlation);
    }
    drawTime();
  }

  // redraw what depends on the time: map frames and cursors
  function drawTime() {
    for (const col of state.columns) {
      const p = col.panels;
      if (p.map.data) drawMapFrame(p.map);
      for (const key of ["raster", "rates"]) {
        const panel = p[key];
        if (!panel.base) continue;
        const ctx = restore(panel.canvas, panel.base);
        const dpr = window.devicePixelRatio || 1;
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        cursor(ctx, panel.box, panel.sx(state.timeMs));
      }
    }
    document.getElementById("time").textContent =
      `t = ${fmt(state.timeMs, 5)} ms of ${fmt(state.tMax, 5)} ms`;
    document.getElementById("scrub").value = String(Math.round((state.timeMs / state.tMax) * 1000));
  }

  // ------------------------------------------------------------------ transport
  function setTime(ms) {
    state.timeMs = Math.max(0, Math.min(state.tMax, ms));
    drawTime();
  }

  function tick(now) {
    if (!state.playing) return;
    if (state.lastTick !== null) {
      // the whole run plays in 10 s at 1x
      const advance = ((now - state.lastTick) / 1000) * (state.tMax / 10) * state.speed;
      let t = state.timeMs + advance;
      if (t >= state.tMax) t = 0;
      state.timeMs = t;
      drawTime();
    }
    state.lastTick = now;
    requestAnimationFrame(tick);
  }

  function play() {
    if (state.playing) return;
    state.playing = true;
    state.lastTick = null;
    document.getElementById("play").innerHTML = "&#10074;&#10074; pause";
    requestAnimationFrame(tick);
  }

  function pause() {
    state.playing = false;
    document.getElementById("play").innerHTML = "&#9654; play";
  }

  function panelStats() {
    return {
      ready: state.ready,
      playing: state.playing,
      time_ms: state.timeMs,
      t_max_ms: state.tMax,
      errors: state.errors.slice(),
      columns: state.columns.map((col) => ({
        dataset: col.ds.name,
        frame: col.panels.map.frame === undefined ? null : col.panels.map.frame,
        n_frames: col.panels.map.data ? col.panels.map.data.time_ms.length : 0,
        map: col.panels.map.points,
        map_active: col.panels.map.active || 0,
        raster: col.panels.raster.points,
        rates: col.panels.rates.points,
        spectra: col.panels.spectra.points,
        correlation: col.panels.correlation.points,
      })),
    };
  }

  async function main() {
    try {
      state.datasets = await getJSON("api/datasets");
    } catch (err) {
      reportError(err.message);
      return;
    }
    state.tMax = Math.max(...state.datasets.map((d) => d.t_stop_ms));
    const groups = [];
    for (const d of state.datasets) for (const g of d.groupings) if (!groups.includes(g)) groups.push(g);
    const sel = document.getElementById("group");
    for (const g of groups) sel.append(el("option", { value: g, text: g.replace("_", " ") }));
    state.columns = state.datasets.map(makeColumn);
    const results = await Promise.allSettled(state.columns.map(loadColumn));
    results.forEach((r) => { if (r.status === "rejected") reportError(r.reason.message || r.reason); });
    drawAll();
    state.ready = true;
    document.body.dataset.ready = "1";

    document.getElementById("play").addEventListener("click", () => (state.playing ? pause() : play()));
    document.getElementById("scrub").addEventListener("input", (e) => {
      pause();
      setTime((+e.target.value / 1000) * state.tMax);
    });
    document.getElementById("speed").addEventListener("change", (e) => { state.speed = +e.target.value; });
    sel.addEventListener("change", async (e) => {
      state.group = e.target.value;
      try {
        await Promise.all(state.columns.map(loadGrouped));
      } catch (err) {
        reportError(err.message);
      }
      drawAll();
    });
    document.addEventListener("keydown", (e) => {
      if (e.code === "Space" && e.target.tagName !== "SELECT") {
        e.preventDefault();
        if (state.playing) pause(); else play();
      }
    });
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(drawAll, 150);
    });
  }

  window.zentaiViewer = { state, panelStats, play, pause, setTime };
  main();
})();
