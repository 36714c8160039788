/* Chapter 6: Distribution Focal Loss over 17 bins. The prediction has logits
 * -(i - c)^2 / (2 s^2); the target y in [0, 16] is two-hot on bins min(floor(y), 15) and
 * the next. Inputs y, c, s; quantities w_left, w_right, dfl (nats), decoded (expected bin). */
(function () {
  "use strict";
  var W = window.CEWidgets;
  var N = 17;
  W.register("dfl", function (fig) {
    var ticks = [];
    for (var i = 0; i < N; i += 2) ticks.push(i);
    var f = W.axes(fig.querySelector("svg"), {
      x: [-0.6, N - 0.4], y: [0, 1], xticks: ticks, yticks: [0, 0.25, 0.5, 0.75, 1],
    });
    var probs = W.bars(f, "ce-bar1", N, 0.7);
    var targets = [W.el(f.plot, "rect", { class: "ce-target" }), W.el(f.plot, "rect", { class: "ce-target" })];
    var yLine = W.el(f.plot, "line", { class: "ce-s2 ce-mark" });
    var decoded = W.el(f.plot, "path", { class: "ce-decoded" });
    return function (v) {
      var x = [], m = -Infinity, j;
      for (j = 0; j < N; j++) { x.push(-((j - v.c) * (j - v.c)) / (2 * v.s * v.s)); m = Math.max(m, x[j]); }
      var s = 0;
      for (j = 0; j < N; j++) s += Math.exp(x[j] - m);
      var lse = m + Math.log(s), mean = 0, p = [];
      for (j = 0; j < N; j++) { p.push(Math.exp(x[j] - lse)); mean += j * p[j]; }
      var left = Math.min(Math.floor(v.y), N - 2), wRight = v.y - left, wLeft = 1 - wRight;
      var loss = -(wLeft * (x[left] - lse) + wRight * (x[left + 1] - lse));
      probs(p);
      [wLeft, wRight].forEach(function (w, k) {
        var half = (f.x(0.7) - f.x(0)) / 2;
        targets[k].setAttribute("x", f.x(left + k) - half);
        targets[k].setAttribute("width", 2 * half);
        targets[k].setAttribute("y", f.y(w));
        targets[k].setAttribute("height", f.y(0) - f.y(w));
      });
      ["x1", "x2"].forEach(function (a) { yLine.setAttribute(a, f.x(v.y)); });
      yLine.setAttribute("y1", f.y(0));
      yLine.setAttribute("y2", f.y(1));
      // a triangle pointing down at the decoded value, at the top of the frame
      decoded.setAttribute("d", "M" + f.x(mean).toFixed(1) + " " + (f.y(1) + 12) + "l-7 -12h14z");
      return { w_left: wLeft, w_right: wRight, dfl: loss, decoded: mean };
    };
  });
})();
