/* Chapter 2: softmax of three logits and the cross-entropy against the true class.
 * Inputs z0, z1, z2 (logits), y (true class); quantities p0, p1, p2, ce (nats). */
(function () {
  "use strict";
  var W = window.CEWidgets;
  W.register("softmax-ce", function (fig) {
    var svg = fig.querySelector("svg");
    var f = W.axes(svg, {
      x: [-0.5, 2.5], y: [0, 1], xticks: [0, 1, 2], xlabels: W.list(svg.getAttribute("data-ticks")),
      yticks: [0, 0.25, 0.5, 0.75, 1],
    });
    var probs = W.bars(f, "ce-bar1", 3, 0.6);
    var target = W.el(f.plot, "rect", { class: "ce-target" });
    return function (v) {
      var z = [v.z0, v.z1, v.z2], m = Math.max.apply(null, z);
      var e = z.map(function (zi) { return Math.exp(zi - m); });
      var s = e[0] + e[1] + e[2];
      var p = e.map(function (ei) { return ei / s; });
      probs(p);
      var w = f.x(0.7) - f.x(0);
      target.setAttribute("x", f.x(v.y) - w / 2);
      target.setAttribute("width", w);
      target.setAttribute("y", f.y(1));
      target.setAttribute("height", f.y(0) - f.y(1));
      return { p0: p[0], p1: p[1], p2: p[2], ce: Math.log(s) + m - z[v.y] };
    };
  });
})();
