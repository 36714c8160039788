/* The course's interactive figures (issue 18): the shared part. Plain SVG, no library.
 *
 * A figure is markup in a chapter's Markdown (README, "Adding an interactive figure"):
 * an element with data-widget="NAME" holding an <svg> (its size in viewBox, width and
 * height; its axis titles in data-x-title and data-y-title, bar labels in data-ticks="a|b|c"),
 * <input name=...> elements and [data-quantity] elements. A figure's own script calls
 * CEWidgets.register(NAME, setup); setup(fig) draws what does not move and returns
 * update(v), which gets the inputs' values ({name: number}), redraws, and returns the
 * quantities ({name: number}) that this module writes into [data-quantity=name].
 * Every word the reader sees comes from the markup: these scripts only draw.
 */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";

  /** An SVG element with attributes, appended to parent. */
  function el(parent, tag, attrs, text) {
    var node = document.createElementNS(NS, tag);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  /** Linear map of [d0, d1] onto [r0, r1]. */
  function scale(d0, d1, r0, r1) {
    return function (v) { return r0 + ((v - d0) * (r1 - r0)) / (d1 - d0); };
  }

  /** Four significant digits, with a true minus sign. */
  function fmt(x) {
    if (!isFinite(x)) return x > 0 ? "∞" : "−∞";
    if (Math.abs(x) < 1e-15) x = 0;
    return x.toPrecision(4).replace(/-/g, "−");
  }

  /** A tick label: as short as it can be. */
  function tick(v) {
    return String(+v.toFixed(6)).replace("-", "−");
  }

  /** "M x y L x y ..." through points [[x, y], ...] given in data units. */
  function path(points, x, y) {
    return points.map(function (p, i) {
      return (i ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1);
    }).join("");
  }

  /** Samples of f on [a, b] (n + 1 points), for path(). */
  function sample(f, a, b, n) {
    var out = [];
    for (var i = 0; i <= n; i++) { var t = a + ((b - a) * i) / n; out.push([t, f(t)]); }
    return out;
  }

  function list(value) {
    return value ? value.split("|") : [];
  }

  /**
   * Axes in the <svg>'s viewBox: opts.x, opts.y domains; opts.xticks, opts.yticks values;
   * opts.xlabels (text per x tick, for bars). Titles from the svg's data-x-title and
   * data-y-title. Returns {x, y, plot, box}: scales, and the group to draw data in
   * (clipped to the frame).
   */
  function axes(svg, opts) {
    var vb = svg.viewBox.baseVal;
    var m = { left: 48, right: 10, top: 10, bottom: 42 };
    var box = { x0: m.left, x1: vb.width - m.right, y0: vb.height - m.bottom, y1: m.top };
    var x = scale(opts.x[0], opts.x[1], box.x0, box.x1);
    var y = scale(opts.y[0], opts.y[1], box.y0, box.y1);
    var g = el(svg, "g", { class: "ce-axes", "aria-hidden": "true" });
    (opts.yticks || []).forEach(function (v) {
      el(g, "line", { class: "ce-grid", x1: box.x0, x2: box.x1, y1: y(v), y2: y(v) });
      el(g, "text", { x: box.x0 - 6, y: y(v), "text-anchor": "end", dy: "0.32em" }, tick(v));
    });
    (opts.xticks || []).forEach(function (v, i) {
      el(g, "line", { class: "ce-tick", x1: x(v), x2: x(v), y1: box.y0, y2: box.y0 + 5 });
      var label = opts.xlabels ? opts.xlabels[i] : tick(v);
      el(g, "text", { x: x(v), y: box.y0 + 8, "text-anchor": "middle", dy: "0.71em" }, label);
    });
    el(g, "path", { class: "ce-frame", d: "M" + box.x0 + " " + box.y1 + "V" + box.y0 + "H" + box.x1 });
    var xt = svg.getAttribute("data-x-title"), yt = svg.getAttribute("data-y-title");
    if (xt) el(g, "text", { class: "ce-title", x: (box.x0 + box.x1) / 2, y: vb.height - 4, "text-anchor": "middle" }, xt);
    if (yt) {
      el(g, "text", { class: "ce-title", transform: "rotate(-90)", x: -(box.y0 + box.y1) / 2, y: 12,
                      "text-anchor": "middle" }, yt);
    }
    var id = "ce-clip-" + Math.random().toString(36).slice(2);
    el(el(svg, "clipPath", { id: id }), "rect", { x: box.x0, y: box.y1 - 6, width: box.x1 - box.x0 + 6,
                                                 height: box.y0 - box.y1 + 6 });
    var plot = el(svg, "g", { "clip-path": "url(#" + id + ")", "aria-hidden": "true" });
    return { x: x, y: y, plot: plot, box: box, svg: svg };
  }

  /** Bars: one <rect> per value, centred on x(i); created once, moved on every call. */
  function bars(frame, cls, n, width) {
    var rects = [];
    for (var i = 0; i < n; i++) rects.push(el(frame.plot, "rect", { class: cls }));
    return function (values, offset) {
      values.forEach(function (v, i) {
        var w = Math.abs(frame.x(width) - frame.x(0));
        var top = frame.y(Math.max(v, 0)), base = frame.y(0);
        rects[i].setAttribute("x", (frame.x(i + (offset || 0)) - w / 2).toFixed(1));
        rects[i].setAttribute("width", w.toFixed(1));
        rects[i].setAttribute("y", Math.min(top, base).toFixed(1));
        rects[i].setAttribute("height", Math.abs(base - top).toFixed(1));
      });
    };
  }

  function decimals(step) {
    var s = String(step || "1");
    return s.indexOf(".") < 0 ? 0 : s.length - s.indexOf(".") - 1;
  }

  /** The inputs' current values: {name: number}; null if one is not a valid number. */
  function read(fig) {
    var v = {}, ok = true;
    [].forEach.call(fig.querySelectorAll("input[name]"), function (input) {
      if (input.type === "radio") {
        if (input.checked) v[input.name] = parseFloat(input.value);
        return;
      }
      var n = parseFloat(input.value);
      if (!isFinite(n) || !input.validity.valid) { ok = false; return; }
      v[input.name] = n;
    });
    return ok ? v : null;
  }

  function start(fig, setup) {
    var update = setup(fig);
    var form = fig.querySelector("form");
    if (form) form.addEventListener("submit", function (e) { e.preventDefault(); });
    function redraw() {
      var v = read(fig);
      if (!v) return;
      var q = update(v);
      for (var name in q) {
        [].forEach.call(fig.querySelectorAll('[data-quantity="' + name + '"]'), function (node) {
          node.textContent = fmt(q[name]);
        });
      }
      [].forEach.call(fig.querySelectorAll("[data-input]"), function (out) {
        var input = fig.querySelector('input[name="' + out.getAttribute("data-input") + '"]');
        out.textContent = (+input.value).toFixed(decimals(input.step)).replace("-", "−");
      });
    }
    fig.addEventListener("input", redraw);
    fig.addEventListener("change", redraw);
    redraw();
    fig.setAttribute("data-ready", "");
  }

  /** Run setup on every figure data-widget=name of the page. */
  function register(name, setup) {
    [].forEach.call(document.querySelectorAll('[data-widget="' + name + '"]'), function (fig) {
      start(fig, setup);
    });
  }

  window.CEWidgets = {
    el: el, scale: scale, fmt: fmt, path: path, sample: sample, axes: axes,
    bars: bars, list: list, register: register,
  };
})();
